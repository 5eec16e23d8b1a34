//! Streaming content-defined chunking with FastCDC (2020), over any async reader.
//! Memory: at most one `CHUNK_SIZE_MAX_BYTES` buffer per stream.

use crate::limits::{CHUNK_SIZE_AVG_BYTES, CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES};
use fastcdc::v2020::AsyncStreamCDC;
use futures::{Stream, StreamExt};
use std::io;
use tokio::io::AsyncRead;

/// Splits `reader` into content-defined chunks.
pub fn chunks<R: AsyncRead + Unpin + Send>(reader: R) -> impl Stream<Item = io::Result<Vec<u8>>> + Send {
    let cdc = AsyncStreamCDC::new(reader, CHUNK_SIZE_MIN_BYTES, CHUNK_SIZE_AVG_BYTES, CHUNK_SIZE_MAX_BYTES);
    futures::stream::unfold(Some(cdc), |state| async move {
        let mut cdc = state?;
        let next = {
            let stream = cdc.as_stream();
            futures::pin_mut!(stream);
            stream.next().await
        };
        match next {
            None => None,
            Some(Ok(chunk)) => Some((Ok(chunk.data), Some(cdc))),
            Some(Err(fastcdc::v2020::Error::IoError(e))) => Some((Err(e), None)),
            Some(Err(e)) => Some((Err(io::Error::other(e.to_string())), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{RngCore, SeedableRng};

    fn split(data: &[u8]) -> Vec<Vec<u8>> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async { chunks(data).map(|c| c.unwrap()).collect::<Vec<_>>().await })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn chunks_concatenate_to_input_and_respect_bounds(seed: u64, len in 0usize..(9 * 1024 * 1024)) {
            let mut data = vec![0u8; len];
            rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
            let parts = split(&data);
            prop_assert_eq!(parts.concat(), data);
            for (i, p) in parts.iter().enumerate() {
                prop_assert!(p.len() <= CHUNK_SIZE_MAX_BYTES);
                if i + 1 < parts.len() {
                    prop_assert!(p.len() >= CHUNK_SIZE_MIN_BYTES);
                }
            }
        }
    }

    #[test]
    fn an_insertion_only_disturbs_nearby_chunks() {
        let mut data = vec![0u8; 16 * 1024 * 1024];
        rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut data);
        let before: std::collections::HashSet<_> = split(&data).into_iter().collect();
        let mut edited = data[..1000].to_vec();
        edited.extend_from_slice(b"inserted bytes shift everything after them");
        edited.extend_from_slice(&data[1000..]);
        let after = split(&edited);
        let shared = after.iter().filter(|c| before.contains(*c)).count();
        assert!(shared + 2 >= after.len(), "only chunks around the edit change: {shared} of {}", after.len());
    }
}
