//! Fuzzes the csv reader and the checks behind it: `cargo +nightly fuzz run csv corpus/csv`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run(data, dropgate::check::formats::Format::Csv));
