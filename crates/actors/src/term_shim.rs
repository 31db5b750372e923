//! Temporary stand-in for `warden_core::term::Screen` (vt100-backed).
#![allow(dead_code, missing_docs)]
use std::num::NonZero;

pub struct Screen {
    p: vt100::Parser,
    version: u64,
}

fn nz(v: u16) -> NonZero<u16> {
    NonZero::new(v.max(1)).unwrap_or(NonZero::<u16>::MIN)
}

impl Screen {
    pub fn new(rows: u16, cols: u16) -> Screen {
        Screen { p: vt100::Parser::new(nz(rows), nz(cols), 0), version: 0 }
    }
    pub fn process(&mut self, b: &[u8]) {
        self.p.process(b);
        self.version += 1;
    }
    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.p.screen_mut().set_size(nz(rows), nz(cols));
        self.version += 1;
    }
    pub fn size(&self) -> (u16, u16) {
        let (r, c) = self.p.screen().size();
        (r.get(), c.get())
    }
    pub fn text(&self) -> String {
        self.p.screen().contents()
    }
    pub fn cursor(&self) -> (u16, u16) {
        self.p.screen().cursor_position()
    }
    pub fn cursor_visible(&self) -> bool {
        !self.p.screen().hide_cursor()
    }
    pub fn title(&self) -> &str {
        ""
    }
    pub fn alternate_screen(&self) -> bool {
        self.p.screen().alternate_screen()
    }
    pub fn bracketed_paste(&self) -> bool {
        self.p.screen().bracketed_paste()
    }
    pub fn scrollback(&self) -> String {
        String::new()
    }
    pub fn scrolled(&self) -> u64 {
        0
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn compact(&mut self) {}
    pub fn is_compact(&self) -> bool {
        false
    }
}
