//! The lake's copies of conversations in months the input does not touch: a re-export whose
//! `conversationStart` moved to another month must still replace the copy stored before.
//!
//! Every `raw_conversations` file carries a Bloom filter of `conversation_id` per row group
//! (see [`crate::lake::files`]). Each winning copy of the input keeps the 64-bit hash those
//! filters are built from, so the filters are probed without the ids: only the row groups
//! that may hold one of the input's conversations are read, and of those only four columns,
//! by ranged reads (a lake on object storage is not downloaded). Files written before the
//! filters existed have none: their row groups are read, which is correct and slower.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use arrow::array::AsArray;
use arrow::datatypes::TimestampMicrosecondType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::bloom_filter::Sbbf;
use parquet::file::reader::{ChunkReader, Length};

use super::{id_key, parse_hash, Candidate, IdKey, LakeCopy};
use crate::error::Result;
use crate::lake::layout::{self, Month};
use crate::lake::snapshot::Snapshot;
use crate::lake::{in_parallel, LakeFile};
use crate::schema::{Table, CONVERSATION_ID, CONVERSATION_START};
use crate::storage::Lake;

/// The hash a Parquet Bloom filter keeps of the string `id` (xxHash64, seed 0, of its bytes).
pub(super) fn bloom_hash(id: &str) -> u64 {
    twox_hash::XxHash64::oneshot(0, id.as_bytes())
}

/// Whether the split-block Bloom filter `bitset` may hold the value of hash `hash` (the
/// check of the Parquet format's specification, on the filter's bytes).
fn may_hold(bitset: &[u8], hash: u64) -> bool {
    const SALT: [u32; 8] = [
        0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947,
        0x5c6bfb31,
    ];
    let blocks = (bitset.len() / 32) as u64;
    if blocks == 0 {
        return true;
    }
    let block = (((hash >> 32) * blocks) >> 32) as usize;
    let key = hash as u32;
    SALT.iter().enumerate().all(|(i, salt)| {
        let at = block * 32 + i * 4;
        let word = u32::from_le_bytes(bitset[at..at + 4].try_into().expect("four bytes"));
        word & (1 << (key.wrapping_mul(*salt) >> 27)) != 0
    })
}

/// The lake's copies of the conversations of `winners` stored in months outside `months`.
pub(super) fn find(
    lake: &Lake,
    base: &Snapshot,
    months: &HashSet<Month>,
    winners: &HashMap<IdKey, Candidate>,
) -> Result<HashMap<IdKey, LakeCopy>> {
    let files: Vec<&LakeFile> = base
        .files(Table::RawConversations)
        .iter()
        .filter(|f| !months.contains(&f.month))
        .collect();
    if files.is_empty() || winners.is_empty() {
        return Ok(HashMap::new());
    }
    let hashes: Vec<u64> = winners.values().map(|c| c.bloom).collect();
    let found = in_parallel(files, |file| copies_in(lake, file, &hashes, winners))?;
    Ok(found.into_iter().flatten().collect())
}

/// The copies of `winners` in one file: its row groups whose filter may hold one of
/// `hashes`, read.
fn copies_in(
    lake: &Lake,
    file: &LakeFile,
    hashes: &[u64],
    winners: &HashMap<IdKey, Candidate>,
) -> Result<Vec<(IdKey, LakeCopy)>> {
    let source = Ranged {
        lake: lake.clone(),
        path: layout::data_file(Table::RawConversations, &file.path),
        size: file.bytes,
    };
    let metadata = ArrowReaderMetadata::load(&source, Default::default())?;
    let parquet = metadata.metadata();
    let id_column = parquet
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == CONVERSATION_ID && c.path().parts().len() == 1);
    let mut groups = Vec::new();
    let mut bitset = Vec::new();
    for (i, group) in parquet.row_groups().iter().enumerate() {
        let filter = match id_column {
            Some(c) => Sbbf::read_from_column_chunk(group.column(c), &source)?,
            None => None,
        };
        let Some(filter) = filter else {
            groups.push(i);
            continue;
        };
        bitset.clear();
        filter.write_bitset(&mut bitset)?;
        if hashes.iter().any(|h| may_hold(&bitset, *h)) {
            groups.push(i);
        }
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let names = [
        CONVERSATION_ID,
        CONVERSATION_START,
        "freshness",
        "content_hash",
    ];
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(source, metadata.clone());
    let roots: Vec<usize> = names
        .iter()
        .filter_map(|n| builder.schema().index_of(n).ok())
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_row_groups(groups)
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let ids = batch.column(0).as_string::<i32>();
        let starts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        let freshness = batch.column(2).as_primitive::<TimestampMicrosecondType>();
        let content = batch.column(3).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let key = id_key(ids.value(i));
            if winners.contains_key(&key) {
                let copy = LakeCopy {
                    freshness: freshness.value(i),
                    hash: parse_hash(content.value(i))?,
                    month: file.month,
                    start: starts.value(i),
                };
                out.push((key, copy));
            }
        }
    }
    Ok(out)
}

/// A data file read by ranges (from object storage: one ranged get per range).
struct Ranged {
    lake: Lake,
    path: String,
    size: u64,
}

impl Length for Ranged {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Ranged {
    type T = RangedRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<RangedRead> {
        Ok(RangedRead {
            file: Ranged {
                lake: self.lake.clone(),
                path: self.path.clone(),
                size: self.size,
            },
            at: start,
            buffer: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.lake
            .read_range(&self.path, start..start + length as u64)
            .map_err(|e| parquet::errors::ParquetError::General(e.to_string()))
    }
}

/// Reads a [`Ranged`] file from an offset on, a chunk at a time (page headers are read this
/// way: a few bytes each).
struct RangedRead {
    file: Ranged,
    at: u64,
    buffer: Bytes,
}

impl Read for RangedRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        const CHUNK: u64 = 64 << 10;
        if self.buffer.is_empty() && self.at < self.file.size {
            let end = (self.at + CHUNK).min(self.file.size);
            self.buffer = self
                .file
                .get_bytes(self.at, (end - self.at) as usize)
                .map_err(std::io::Error::other)?;
            self.at = end;
        }
        let n = out.len().min(self.buffer.len());
        out[..n].copy_from_slice(&self.buffer[..n]);
        self.buffer = self.buffer.slice(n..);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_by_hash_agrees_with_the_filters_own_check() {
        let mut filter = Sbbf::new_with_ndv_fpp(1000, 0.01).unwrap();
        let stored: Vec<String> = (0..1000).map(|i| format!("conversation-{i}")).collect();
        for id in &stored {
            filter.insert(id.as_str());
        }
        let mut bitset = Vec::new();
        filter.write_bitset(&mut bitset).unwrap();
        for id in &stored {
            assert!(may_hold(&bitset, bloom_hash(id)), "{id} is in the filter");
        }
        let mut false_positives = 0;
        for i in 0..10_000 {
            let other = format!("other-{i}");
            let probe = may_hold(&bitset, bloom_hash(&other));
            assert_eq!(probe, filter.check(other.as_str()), "{other}");
            false_positives += probe as u32;
        }
        assert!(false_positives < 500, "{false_positives} of 10,000");
    }
}
