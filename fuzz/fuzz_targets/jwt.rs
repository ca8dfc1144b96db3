#![no_main]
//! Runs `chatplane_api::fuzzing::jwt`: see that function for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatplane_api::fuzzing::jwt(data));
