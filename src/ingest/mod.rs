//! Ingest, first half: from the user's paths to decoded Arrow batches for every table.
//!
//! Three stages, each in its own module and each on its own threads:
//! [`source`] finds and opens inputs (files, directories, stdin, gzip);
//! [`framing`] cuts each stream into the raw text of single records, whatever its shape;
//! [`decode`] turns records into rows of every table, or into [`Reject`]s.
//!
//! [`DecoderBuilder::decode`] runs them as a pipeline: one thread reads and frames, the others
//! decode, linked by bounded channels so memory stays flat however large the input. Batches
//! come out as an iterator of [`Decoded`], in no particular order (each carries its `seq`).

pub mod decode;
pub mod framing;
pub mod source;

use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Receiver};

pub use decode::{Decoded, Reject};
pub use source::{discover, discover_with, Input, ObjectInput};

use crate::error::{Error, Result};
use crate::ingest::decode::{decode_chunk, MonthBuilders, PageBuilder};
use crate::ingest::framing::{Chunk, Framer};

/// Options of the decode pipeline, with builder-style setters.
#[derive(Debug, Clone)]
pub struct DecoderBuilder {
    threads: usize,
    chunk_bytes: usize,
    max_record_bytes: usize,
    ingested_at_ms: i64,
}

impl Default for DecoderBuilder {
    fn default() -> Self {
        DecoderBuilder {
            threads: thread::available_parallelism().map_or(2, |n| n.get()),
            chunk_bytes: 4 << 20,
            max_record_bytes: 64 << 20,
            ingested_at_ms: chrono::Utc::now().timestamp_millis(),
        }
    }
}

impl DecoderBuilder {
    /// Defaults: one decoder thread per core, 4 MiB chunks, records up to 64 MiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decoder threads (at least one).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Bytes of record text per decoded chunk: the unit of work and of memory.
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// Records longer than this are rejected (and only their start kept).
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes.max(1024);
        self
    }

    /// The time stamped on `raw_conversations.ingested_at`.
    pub fn with_ingested_at(mut self, millis: i64) -> Self {
        self.ingested_at_ms = millis;
        self
    }

    /// Starts decoding `inputs` in the background; batches arrive through the iterator.
    ///
    /// An input that cannot be opened or read yields an `Err` item and the others go on.
    pub fn decode(self, inputs: Vec<Input>) -> DecodeStream {
        let (chunk_tx, chunk_rx) = bounded::<(usize, u64, Arc<str>, Chunk)>(self.threads * 2);
        let (out_tx, out_rx) = bounded::<Result<Decoded>>(self.threads * 2);

        let reader_out = out_tx.clone();
        let (chunk_bytes, max_record) = (self.chunk_bytes, self.max_record_bytes);
        let reader = thread::Builder::new()
            .name("convlake-frame".into())
            .spawn(move || {
                let mut seq = 0u64;
                for (index, input) in inputs.iter().enumerate() {
                    let name: Arc<str> = input.display_name().into();
                    let stream = match input.open() {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = reader_out.send(Err(e));
                            continue;
                        }
                    };
                    let mut framer = Framer::new(stream, input.is_named_ndjson(), max_record);
                    let mut chunk = Chunk::default();
                    loop {
                        match framer.next_into(&mut chunk) {
                            Ok(true) if chunk.data.len() < chunk_bytes => continue,
                            Ok(more) => {
                                if !chunk.items.is_empty() {
                                    let full = std::mem::take(&mut chunk);
                                    if chunk_tx.send((index, seq, name.clone(), full)).is_err() {
                                        return;
                                    }
                                    seq += 1;
                                }
                                if !more {
                                    break;
                                }
                            }
                            Err(e) => {
                                if !chunk.items.is_empty() {
                                    let _ = chunk_tx.send((
                                        index,
                                        seq,
                                        name.clone(),
                                        std::mem::take(&mut chunk),
                                    ));
                                    seq += 1;
                                }
                                let _ = reader_out.send(Err(Error::io(
                                    "cannot read",
                                    input.display_name(),
                                    e,
                                )));
                                break;
                            }
                        }
                    }
                }
            })
            .expect("spawning a thread");

        let mut workers = vec![reader];
        for n in 0..self.threads {
            let chunks = chunk_rx.clone();
            let out = out_tx.clone();
            let ingested_at = self.ingested_at_ms;
            workers.push(
                thread::Builder::new()
                    .name(format!("convlake-decode-{n}"))
                    .spawn(move || {
                        let mut builders = MonthBuilders::new(ingested_at);
                        let mut pages = PageBuilder::default();
                        for (input, seq, name, chunk) in chunks {
                            let decoded =
                                decode_chunk(&chunk, &name, input, seq, &mut builders, &mut pages);
                            if out.send(decoded).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("spawning a thread"),
            );
        }
        DecodeStream {
            receiver: out_rx,
            workers,
        }
    }
}

/// Decoded batches as they are ready; see [`DecoderBuilder::decode`].
pub struct DecodeStream {
    receiver: Receiver<Result<Decoded>>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Iterator for DecodeStream {
    type Item = Result<Decoded>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.receiver.recv() {
            Ok(item) => Some(item),
            Err(_) => {
                for worker in self.workers.drain(..) {
                    if worker.join().is_err() {
                        return Some(Err(Error::Usage("a decoder thread panicked; this is a bug, please report it with the input".into())));
                    }
                }
                None
            }
        }
    }
}
