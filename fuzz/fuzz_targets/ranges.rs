//! The node's byte ranges: a blob GET's `Range` against a blob size (the first line), and a PATCH chunk's `Content-Length` and `Content-Range` (the next two). What is accepted lies inside the blob, sorted and coalesced, and agrees with itself.

#![no_main]

use flotilla_node::fuzzing::{blob_ranges, chunk_start};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(4, '\n');
    let size: u64 = lines.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let (Some(range), length, content_range) = (lines.next(), lines.next(), lines.next()) else {
        return;
    };
    if let Some(ranges) = blob_ranges(range, size) {
        assert!(
            !ranges.is_empty() && ranges.len() <= 16,
            "{range:?}: {ranges:?}"
        );
        for (start, end) in &ranges {
            assert!(
                start <= end && *end < size,
                "{range:?} of {size}: {ranges:?}"
            );
        }
        for pair in ranges.windows(2) {
            // Coalesced: neither overlapping nor touching.
            assert!(pair[1].0 > pair[0].1 + 1, "{range:?}: {ranges:?}");
        }
    }
    if let (Some(length), Some(content_range)) = (length, content_range) {
        if let Ok(from) = chunk_start(length, content_range) {
            let (a, b) = content_range
                .trim()
                .split_once('-')
                .expect("a range was read");
            let a: i128 = a.trim().parse().expect("its start is an integer");
            let b: i128 = b.trim().parse().expect("its end is an integer");
            let length: i128 = length.parse().expect("the length is an integer");
            assert_eq!(i128::from(from), a);
            assert_eq!(b - a + 1, length, "{content_range:?} is not {length} bytes");
        }
    }
});
