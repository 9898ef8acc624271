//! Input framing: splits a byte stream into the raw text of single conversation records,
//! whatever the export shape, without holding more than one record in memory.
//!
//! Shapes are detected from the bytes, never from the user:
//! - a sync query page or async job page (`{"conversations": [...], ...}`): each element of
//!   `conversations` is a record, the rest of the page (`totalHits`, `cursor`, ...) comes out as
//!   one [`ItemKind::Page`];
//! - a bare array of conversations, a single conversation object;
//! - NDJSON (any of the above, one per line). When the first value sits on one line and another
//!   follows, or the file is named `.ndjson`/`.jsonl`, line mode is on: a newline inside an
//!   unfinished value ends that record as broken, and framing resumes on the next line.
//!
//! The framer only tracks strings and bracket depth; whether a record is valid JSON of the right
//! shape is the decoder's business. What cannot be framed (truncated values, stray text) comes
//! out as [`ItemKind::Broken`] with its position, and framing goes on.

use std::io::{self, Read};

/// What an item of a [`Chunk`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// The complete text of one value that should be a conversation.
    Record,
    /// A page's own data: its text with the conversations cut out of the array.
    Page,
    /// Text that could not be framed as a value, and why.
    Broken(String),
}

/// One framed item: where its text sits in the chunk, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Record, page or broken text.
    pub kind: ItemKind,
    /// Byte range of the text in [`Chunk::data`].
    pub range: std::ops::Range<usize>,
    /// Byte offset of the item's first byte in the (decompressed) input.
    pub offset: u64,
    /// Index of the record in its input, counting broken ones (pages count separately).
    pub index: u64,
    /// Index of the page the record belongs to, if it came from one.
    pub page: Option<u64>,
}

/// Framed items and the bytes they point into: the unit of work handed to decoders.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The items' text, back to back.
    pub data: Vec<u8>,
    /// The items, in input order.
    pub items: Vec<Item>,
}

impl Chunk {
    /// The text of `item`.
    pub fn text(&self, item: &Item) -> &[u8] {
        &self.data[item.range.clone()]
    }
}

enum Context {
    /// Between top-level values.
    Top,
    /// Inside a top-level `[`: elements are records.
    BareArray,
    /// Inside a page's `conversations` array; `meta` holds the page text so far.
    PageArray {
        page: u64,
        offset: u64,
        meta: Vec<u8>,
    },
}

/// How a scan of a nested value ended.
enum End {
    Closed,
    Eof,
    Newline,
}

/// Streaming framer over any reader. See the module documentation.
pub struct Framer<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Input offset of `buf[0]`.
    base: u64,
    context: Context,
    line_mode: bool,
    /// Line mode is decided after the first top-level value.
    first_value_done: bool,
    next_index: u64,
    next_page: u64,
    max_record: usize,
}

const READ_BUFFER: usize = 256 * 1024;

impl<R: Read> Framer<R> {
    /// A framer over `reader`. `line_mode` forces NDJSON framing (for `.ndjson`/`.jsonl` names);
    /// records longer than `max_record` bytes are cut and reported broken.
    pub fn new(reader: R, line_mode: bool, max_record: usize) -> Self {
        Framer {
            reader,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            base: 0,
            context: Context::Top,
            line_mode,
            first_value_done: line_mode,
            next_index: 0,
            next_page: 0,
            max_record,
        }
    }

    /// Bytes consumed from the input so far.
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Frames the next item into `chunk`; `false` at the end of the input.
    pub fn next_into(&mut self, chunk: &mut Chunk) -> io::Result<bool> {
        loop {
            let produced = match self.context {
                Context::Top => self.top(chunk)?,
                Context::BareArray => self.array_element(chunk)?,
                Context::PageArray { .. } => self.array_element(chunk)?,
            };
            match produced {
                Some(true) => return Ok(true),
                Some(false) => return Ok(false),
                None => continue,
            }
        }
    }

    /// One step between top-level values. `Some(true)`: an item was produced; `Some(false)`:
    /// end of input; `None`: the context changed, call again.
    fn top(&mut self, chunk: &mut Chunk) -> io::Result<Option<bool>> {
        self.skip_ws()?;
        let Some(c) = self.peek()? else {
            return Ok(Some(false));
        };
        let offset = self.position();
        match c {
            b'[' => {
                self.bump();
                self.context = Context::BareArray;
                Ok(None)
            }
            b'{' => self.top_object(chunk, offset),
            _ => {
                let start = chunk.data.len();
                self.copy_line(&mut chunk.data)?;
                self.push_broken(
                    chunk,
                    start,
                    offset,
                    None,
                    format!(
                        "not a record: expected a JSON object or array but found {}",
                        describe_byte(c)
                    ),
                );
                Ok(Some(true))
            }
        }
    }

    /// Reads a top-level object: a whole record, or the start of a page (then the context
    /// switches to the page's array and `None` asks to be called again).
    fn top_object(&mut self, chunk: &mut Chunk, offset: u64) -> io::Result<Option<bool>> {
        let start = chunk.data.len();
        let single_line_start = !self.line_mode;
        self.bump();
        chunk.data.push(b'{');
        // Read `"key": value` pairs at depth 1 until the object ends or `conversations: [`.
        loop {
            if self.skip_ws_into(&mut chunk.data)?.is_err() {
                return self.finish_top_broken(
                    chunk,
                    start,
                    offset,
                    "truncated: the line ends inside an object",
                );
            }
            match self.peek()? {
                None => {
                    return self.finish_top_broken(
                        chunk,
                        start,
                        offset,
                        "truncated: the input ends inside an object",
                    )
                }
                Some(b'}') => {
                    self.bump();
                    chunk.data.push(b'}');
                    let index = self.take_index();
                    chunk.items.push(Item {
                        kind: ItemKind::Record,
                        range: start..chunk.data.len(),
                        offset,
                        index,
                        page: None,
                    });
                    self.after_top_value(single_line_start, start, chunk);
                    return Ok(Some(true));
                }
                Some(b',') => {
                    self.bump();
                    chunk.data.push(b',');
                    continue;
                }
                Some(b'"') => {}
                Some(_) => {
                    return self.recover_top(
                        chunk,
                        start,
                        offset,
                        "malformed object: expected a key string",
                    );
                }
            }
            let key_start = chunk.data.len();
            if !self.copy_string(&mut chunk.data)? {
                return self.finish_top_broken(
                    chunk,
                    start,
                    offset,
                    "truncated: the input ends inside a key",
                );
            }
            let is_conversations = &chunk.data[key_start..] == b"\"conversations\"";
            if self.skip_ws_into(&mut chunk.data)?.is_err() {
                return self.finish_top_broken(
                    chunk,
                    start,
                    offset,
                    "truncated: the line ends inside an object",
                );
            }
            if self.peek()? != Some(b':') {
                return self.recover_top(
                    chunk,
                    start,
                    offset,
                    "malformed object: expected ':' after a key",
                );
            }
            self.bump();
            chunk.data.push(b':');
            if self.skip_ws_into(&mut chunk.data)?.is_err() {
                return self.finish_top_broken(
                    chunk,
                    start,
                    offset,
                    "truncated: the line ends inside an object",
                );
            }
            if is_conversations && self.peek()? == Some(b'[') {
                self.bump();
                let mut meta = chunk.data.split_off(start);
                meta.push(b'[');
                let page = self.next_page;
                self.next_page += 1;
                self.context = Context::PageArray { page, offset, meta };
                return Ok(None);
            }
            match self.copy_value(&mut chunk.data, usize::MAX)? {
                End::Closed => {}
                End::Eof => {
                    return self.finish_top_broken(
                        chunk,
                        start,
                        offset,
                        "truncated: the input ends inside a value",
                    )
                }
                End::Newline => {
                    return self.finish_top_broken(
                        chunk,
                        start,
                        offset,
                        "truncated: the line ends inside a value",
                    )
                }
            }
        }
    }

    /// After a syntax error inside a top-level object: skip to its end by depth and report it.
    fn recover_top(
        &mut self,
        chunk: &mut Chunk,
        start: usize,
        offset: u64,
        reason: &str,
    ) -> io::Result<Option<bool>> {
        let reason = match self.scan_nested(&mut chunk.data, 1, usize::MAX)? {
            End::Closed => reason.to_string(),
            End::Eof => format!("{reason}; then the input ends inside the object"),
            End::Newline => format!("{reason}; then the line ends inside the object"),
        };
        self.finish_top_broken(chunk, start, offset, &reason)
    }

    fn finish_top_broken(
        &mut self,
        chunk: &mut Chunk,
        start: usize,
        offset: u64,
        reason: &str,
    ) -> io::Result<Option<bool>> {
        self.push_broken(chunk, start, offset, None, reason.to_string());
        self.first_value_done = true;
        Ok(Some(true))
    }

    /// Line mode turns on when the first top-level value was on a single line.
    fn after_top_value(&mut self, check: bool, start: usize, chunk: &Chunk) {
        if check && !self.first_value_done {
            self.first_value_done = true;
            if memchr::memchr(b'\n', &chunk.data[start..]).is_none() {
                self.line_mode = self.next_is_on_new_line();
            }
        }
    }

    fn next_is_on_new_line(&self) -> bool {
        // Only the bytes already buffered are looked at: enough for any real NDJSON file.
        self.buf[self.pos..self.end]
            .iter()
            .find(|c| !matches!(c, b' ' | b'\t' | b'\r'))
            == Some(&b'\n')
    }

    /// One element of a bare or page array, or the end of the array.
    fn array_element(&mut self, chunk: &mut Chunk) -> io::Result<Option<bool>> {
        loop {
            self.skip_ws()?;
            match self.peek()? {
                Some(b',') => self.bump(),
                Some(b']') => {
                    self.bump();
                    return self.close_array(chunk);
                }
                None => {
                    let context = std::mem::replace(&mut self.context, Context::Top);
                    if let Context::PageArray { page, offset, meta } = context {
                        let start = chunk.data.len();
                        chunk.data.extend_from_slice(&meta);
                        self.push_broken(
                            chunk,
                            start,
                            offset,
                            Some(page),
                            "truncated: the input ends inside the page's conversations array"
                                .into(),
                        );
                        return Ok(Some(true));
                    }
                    return Ok(Some(false));
                }
                Some(_) => break,
            }
        }
        let offset = self.position();
        let start = chunk.data.len();
        let page = match &self.context {
            Context::PageArray { page, .. } => Some(*page),
            _ => None,
        };
        let end = self.copy_value(&mut chunk.data, self.max_record)?;
        let cut = chunk.data.len() - start >= self.max_record;
        let index = self.take_index();
        let kind = match end {
            End::Closed if cut => ItemKind::Broken(format!(
                "record larger than the {} byte limit (only its start is kept)",
                self.max_record
            )),
            End::Closed => ItemKind::Record,
            End::Eof => ItemKind::Broken("truncated: the input ends inside this record".into()),
            End::Newline => ItemKind::Broken("truncated: the line ends inside this record".into()),
        };
        chunk.items.push(Item {
            kind,
            range: start..chunk.data.len(),
            offset,
            index,
            page,
        });
        if !matches!(end, End::Closed) {
            // Whatever the array held after this cannot be framed reliably; the page is lost
            // as a wrapper but every record seen so far is out, and the next line starts anew.
            if let Context::PageArray { .. } = self.context {
                self.context = Context::Top;
            } else if matches!(end, End::Newline) {
                self.context = Context::Top;
            }
        }
        Ok(Some(true))
    }

    /// After `]`: a bare array is done; a page goes on with its trailing keys.
    fn close_array(&mut self, chunk: &mut Chunk) -> io::Result<Option<bool>> {
        let context = std::mem::replace(&mut self.context, Context::Top);
        let Context::PageArray {
            page,
            offset,
            mut meta,
        } = context
        else {
            self.first_value_done = true;
            return Ok(None);
        };
        meta.push(b']');
        let end = self.scan_nested(&mut meta, 1, usize::MAX)?;
        let start = chunk.data.len();
        chunk.data.extend_from_slice(&meta);
        let kind = match end {
            End::Closed => ItemKind::Page,
            End::Eof => ItemKind::Broken("truncated: the input ends inside the page".into()),
            End::Newline => ItemKind::Broken("truncated: the line ends inside the page".into()),
        };
        chunk.items.push(Item {
            kind,
            range: start..chunk.data.len(),
            offset,
            index: page,
            page: Some(page),
        });
        self.first_value_done = true;
        Ok(Some(true))
    }

    fn take_index(&mut self) -> u64 {
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    fn push_broken(
        &mut self,
        chunk: &mut Chunk,
        start: usize,
        offset: u64,
        page: Option<u64>,
        reason: String,
    ) {
        let index = self.take_index();
        chunk.items.push(Item {
            kind: ItemKind::Broken(reason),
            range: start..chunk.data.len(),
            offset,
            index,
            page,
        });
    }

    // ---- byte-level scanning -------------------------------------------------------------

    fn refill(&mut self) -> io::Result<bool> {
        if self.pos < self.end {
            return Ok(true);
        }
        self.base += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(if self.refill()? {
            Some(self.buf[self.pos])
        } else {
            None
        })
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    /// Skips whitespace.
    fn skip_ws(&mut self) -> io::Result<()> {
        while self.refill()? {
            let slice = &self.buf[self.pos..self.end];
            let n = slice
                .iter()
                .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            self.pos += n;
            if n < slice.len() {
                break;
            }
        }
        Ok(())
    }

    /// Skips whitespace inside a value, keeping it (records are stored as written). In line
    /// mode a newline ends the value: `Err(())` inside the `Ok` says so, the newline consumed.
    fn skip_ws_into(&mut self, out: &mut Vec<u8>) -> io::Result<Result<(), ()>> {
        while self.refill()? {
            let slice = &self.buf[self.pos..self.end];
            let n = slice
                .iter()
                .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            if self.line_mode {
                if let Some(nl) = memchr::memchr(b'\n', &slice[..n]) {
                    out.extend_from_slice(&slice[..nl]);
                    self.pos += nl + 1;
                    return Ok(Err(()));
                }
            }
            out.extend_from_slice(&slice[..n]);
            self.pos += n;
            if n < slice.len() {
                break;
            }
        }
        Ok(Ok(()))
    }

    /// Copies the rest of the current line (for stray text); the newline is consumed.
    fn copy_line(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while self.refill()? {
            let slice = &self.buf[self.pos..self.end];
            if let Some(n) = memchr::memchr(b'\n', slice) {
                out.extend_from_slice(&slice[..n]);
                self.pos += n + 1;
                return Ok(());
            }
            if out.len() < self.max_record {
                out.extend_from_slice(slice);
            }
            self.pos = self.end;
        }
        Ok(())
    }

    /// Copies a string starting at `"`; `false` if the input ends inside it.
    fn copy_string(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        self.bump();
        out.push(b'"');
        let mut escaped = false;
        while self.refill()? {
            let slice = &self.buf[self.pos..self.end];
            let mut i = 0;
            while i < slice.len() {
                if escaped {
                    escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &slice[i..]) {
                    None => i = slice.len(),
                    Some(j) => {
                        i += j;
                        if slice[i] == b'"' {
                            out.extend_from_slice(&slice[..=i]);
                            self.pos += i + 1;
                            return Ok(true);
                        }
                        escaped = true;
                        i += 1;
                    }
                }
            }
            out.extend_from_slice(slice);
            self.pos = self.end;
        }
        Ok(false)
    }

    /// Copies one value of any kind; at most `limit` bytes are kept, the rest is scanned.
    fn copy_value(&mut self, out: &mut Vec<u8>, limit: usize) -> io::Result<End> {
        match self.peek()? {
            None => Ok(End::Eof),
            Some(b'"') => Ok(if self.copy_string(out)? {
                End::Closed
            } else {
                End::Eof
            }),
            Some(c @ (b'{' | b'[')) => {
                self.bump();
                out.push(c);
                self.scan_nested(out, 1, limit)
            }
            Some(_) => {
                // A scalar: up to the next delimiter at this level.
                while self.refill()? {
                    let slice = &self.buf[self.pos..self.end];
                    let n = slice
                        .iter()
                        .take_while(|c| {
                            !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                        })
                        .count();
                    out.extend_from_slice(&slice[..n]);
                    self.pos += n;
                    if n < slice.len() {
                        return Ok(End::Closed);
                    }
                }
                Ok(End::Closed)
            }
        }
    }

    /// Copies bytes until the bracket depth, starting at `depth`, comes back to zero.
    fn scan_nested(&mut self, out: &mut Vec<u8>, mut depth: u32, limit: usize) -> io::Result<End> {
        let start_len = out.len();
        let mut in_string = false;
        let mut escaped = false;
        while self.refill()? {
            let slice = &self.buf[self.pos..self.end];
            let mut i = 0;
            let mut end = None;
            while i < slice.len() {
                let c = slice[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if c == b'\\' {
                        escaped = true;
                    } else if c == b'"' {
                        in_string = false;
                    } else if c == b'\n' && self.line_mode {
                        end = Some((i, End::Newline));
                        break;
                    } else if let Some(j) = memchr::memchr3(b'"', b'\\', b'\n', &slice[i..]) {
                        i += j;
                        continue;
                    } else {
                        i = slice.len();
                        continue;
                    }
                } else {
                    match c {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some((i + 1, End::Closed));
                                break;
                            }
                        }
                        b'\n' if self.line_mode => {
                            end = Some((i, End::Newline));
                            break;
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            let (take, done) = match end {
                Some((n, how)) => (n, Some(how)),
                None => (slice.len(), None),
            };
            let room = start_len
                .saturating_add(limit)
                .saturating_sub(out.len())
                .min(take);
            out.extend_from_slice(&slice[..room]);
            self.pos += take;
            if let Some(how) = done {
                if matches!(how, End::Newline) {
                    self.pos += 1;
                }
                return Ok(how);
            }
        }
        Ok(End::Eof)
    }
}

fn describe_byte(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("byte 0x{c:02x}")
    }
}
