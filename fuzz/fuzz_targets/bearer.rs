#![no_main]
//! Runs `chatplane_api::fuzzing::bearer`: see that function for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatplane_api::fuzzing::bearer(data));
