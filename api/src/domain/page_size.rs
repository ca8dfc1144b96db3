/// How many items a page holds: `limit` from the query, within 1..=max.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub fn parse(raw: Option<&str>, default: u32, max: u32) -> Result<Self, String> {
        let Some(raw) = raw else {
            return Ok(Self(default.min(max)));
        };
        match raw.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Self(n)),
            _ => Err(format!("limit must be an integer from 1 to {max}")),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// One more row than the page shows tells whether a next page exists.
    pub fn fetch(self) -> i64 {
        i64::from(self.0) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageSize::parse(None, 50, 100), Ok(PageSize(50)));
        assert_eq!(PageSize::parse(Some("7"), 50, 100), Ok(PageSize(7)));
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(PageSize::parse(Some(bad), 50, 100).is_err(), "{bad}");
        }
    }
}
