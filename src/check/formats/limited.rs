//! A reader that refuses to deliver more than a set number of bytes between two calls to
//! [`Budget::reset`]: so that one endless line or XML node cannot make a parser buffer it all.
//!
//! It also counts line ends as the bytes pass, for parsers that give no line numbers: `\n`,
//! `\r\n` and a lone `\r` (old Mac exports, which the csv crate accepts) each end one line.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

/// The byte allowance shared by a [`Limited`] reader and the parser loop that resets it.
#[derive(Clone)]
pub(super) struct Budget {
    used: Rc<Cell<usize>>,
    /// Line ends delivered so far (for line numbers where the parser gives none).
    newlines: Rc<Cell<u64>>,
    /// Whether the last byte delivered was a `\r`: the `\n` of a CRLF split across two
    /// reads must not end a second line.
    after_cr: Rc<Cell<bool>>,
    /// Bytes delivered so far, and the offsets of line ends not yet passed by [`Budget::line_at`].
    delivered: Rc<Cell<u64>>,
    /// Every `\r` and `\n` not yet passed, and whether it starts a line end (the `\n` of a
    /// CRLF does not).
    pending: Rc<RefCell<VecDeque<(u64, bool)>>>,
    lines_before: Rc<Cell<u64>>,
    limit: usize,
}

/// The error kind a [`Limited`] reader fails with when the budget runs out.
pub(super) const OVER_BUDGET: io::ErrorKind = io::ErrorKind::FileTooLarge;

impl Budget {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            used: Rc::default(),
            newlines: Rc::default(),
            after_cr: Rc::default(),
            delivered: Rc::default(),
            pending: Rc::default(),
            lines_before: Rc::default(),
            limit,
        }
    }

    /// Starts a new allowance (call at each record boundary).
    pub(super) fn reset(&self) {
        self.used.set(0);
    }

    /// Line ends read so far.
    pub(super) fn newlines(&self) -> u64 {
        self.newlines.get()
    }

    /// The 1-based line of the byte at `offset`. Offsets must not go backwards between calls;
    /// only line ends read ahead of the parser are remembered. A CRLF ends its line at its
    /// `\r`.
    pub(super) fn line_at(&self, offset: u64) -> u64 {
        let mut pending = self.pending.borrow_mut();
        while let Some(&(_, ends)) = pending.front().filter(|(at, _)| *at < offset) {
            pending.pop_front();
            self.lines_before
                .set(self.lines_before.get() + u64::from(ends));
        }
        self.lines_before.get() + 1
    }

    /// The 1-based line of a record that a parser says starts at `offset`: parsers skip
    /// empty lines before a record, and may report where that skipping began (the `\n` of
    /// the CRLF that ended the previous record), so line ends right at `offset` are passed
    /// first.
    pub(super) fn line_of_record(&self, offset: u64) -> u64 {
        self.line_at(offset);
        let mut pending = self.pending.borrow_mut();
        let mut next = offset;
        while let Some(&(_, ends)) = pending.front().filter(|(at, _)| *at == next) {
            pending.pop_front();
            self.lines_before
                .set(self.lines_before.get() + u64::from(ends));
            next += 1;
        }
        self.lines_before.get() + 1
    }

    fn account(&self, bytes: &[u8]) {
        self.used.set(self.used.get().saturating_add(bytes.len()));
        let start = self.delivered.get();
        let mut pending = self.pending.borrow_mut();
        let mut lines = 0;
        let mut after_cr = self.after_cr.get();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\r' || b == b'\n' {
                let ends = b == b'\r' || !after_cr;
                pending.push_back((start + i as u64, ends));
                lines += u64::from(ends);
            }
            after_cr = b == b'\r';
        }
        self.after_cr.set(after_cr);
        self.newlines.set(self.newlines.get() + lines);
        self.delivered.set(start + bytes.len() as u64);
    }

    fn check(&self) -> io::Result<()> {
        if self.used.get() > self.limit {
            return Err(io::Error::new(OVER_BUDGET, "line or node too long"));
        }
        Ok(())
    }
}

/// Wraps a reader; reads fail once the [`Budget`] is spent.
pub(super) struct Limited<R> {
    inner: R,
    budget: Budget,
}

impl<R> Limited<R> {
    pub(super) fn new(inner: R, budget: Budget) -> Self {
        Self { inner, budget }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.budget.check()?;
        let n = self.inner.read(buf)?;
        self.budget.account(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Limited<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.budget.check()?;
        self.inner.fill_buf()
    }

    /// Bytes count when the parser consumes them, so that what it only peeked at is not
    /// counted twice; an overrun shows at the next `fill_buf`.
    fn consume(&mut self, amount: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            self.budget.account(&buf[..amount.min(buf.len())]);
        }
        self.inner.consume(amount);
    }
}
