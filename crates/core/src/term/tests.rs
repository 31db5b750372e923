//! Unit tests of the screen model, one group per kind of operation. The differential
//! tests against vt100 are in `tests/term_captures.rs` and `tests/term_props.rs`.

use super::*;

fn screen(rows: u16, cols: u16, input: &str) -> Screen {
    let mut s = Screen::new(rows, cols);
    s.process(input.as_bytes());
    s
}

// ----- printing and wrapping -----

#[test]
fn prints_text_and_moves_the_cursor() {
    let s = screen(3, 10, "hello");
    assert_eq!(s.text(), "hello");
    assert_eq!(s.cursor(), (0, 5));
    assert_eq!(s.row_text(0), "hello");
    assert_eq!(s.row_text(1), "");
    assert_eq!(s.row_text(99), "");
}

#[test]
fn wrap_is_deferred_until_the_next_character() {
    let mut s = screen(3, 5, "abcde");
    assert_eq!(s.cursor(), (0, 5), "pending wrap: column equals the width");
    s.process(b"f");
    assert_eq!(s.cursor(), (1, 1));
    // A soft-wrapped row is joined to the next without a newline, as in vt100.
    assert_eq!(s.text(), "abcdef");
    assert_eq!(s.row_text(0), "abcde");
    assert_eq!(s.row_text(1), "f");
}

#[test]
fn carriage_return_in_pending_wrap_does_not_wrap() {
    let s = screen(3, 5, "abcde\r\nx");
    assert_eq!(s.text(), "abcde\nx");
    assert_eq!(s.cursor(), (1, 1));
}

#[test]
fn written_spaces_are_text_but_erased_cells_are_not() {
    let s = screen(2, 10, "a  \x1b[5Gb\x1b[7G   ");
    assert_eq!(s.text(), "a   b    ");
    let s = screen(2, 10, "abc\x1b[K");
    assert_eq!(s.text(), "abc");
}

#[test]
fn long_ascii_runs_wrap_and_scroll() {
    let s = screen(2, 4, "0123456789");
    assert_eq!(s.text(), "456789");
    assert_eq!(s.row_text(0), "4567");
    assert_eq!(s.row_text(1), "89");
    assert_eq!(s.cursor(), (1, 2));
    assert_eq!(s.scrollback(), "0123");
}

#[test]
fn autowrap_off_overwrites_the_last_column() {
    let s = screen(2, 5, "\x1b[?7labcdefgh");
    assert_eq!(s.text(), "abcdh");
    assert_eq!(s.cursor(), (0, 4));
    let s = screen(2, 5, "\x1b[?7labcdefgh\x1b[?7hij");
    assert_eq!(s.text(), "abcdij");
}

#[test]
fn wide_characters_take_two_columns() {
    let s = screen(2, 6, "a中b");
    assert_eq!(s.text(), "a中b");
    assert_eq!(s.cursor(), (0, 4));
    // A wide character that does not fit moves to the next row.
    let s = screen(2, 6, "abcde中");
    assert_eq!(s.row_text(0), "abcde");
    assert_eq!(s.row_text(1), "中");
    // Overwriting one half of a wide character clears the other half.
    let s = screen(2, 6, "中文\x1b[1;2Hx");
    assert_eq!(s.text(), " x文");
    let s = screen(2, 6, "中文\x1b[1;1Hx");
    assert_eq!(s.text(), "x 文");
}

#[test]
fn combining_marks_join_the_previous_cell() {
    let s = screen(2, 10, "e\u{301}x");
    assert_eq!(s.text(), "e\u{301}x");
    assert_eq!(s.cursor(), (0, 2));
    // At the left margin there is nothing to combine with.
    let s = screen(2, 10, "\u{301}a");
    assert_eq!(s.text(), "a");
    // U+FE0F asks for emoji presentation: a narrow symbol becomes wide.
    let s = screen(2, 10, "\u{26a0}\u{fe0f}x");
    assert_eq!(s.text(), "\u{26a0}\u{fe0f}x");
    assert_eq!(s.cursor(), (0, 3));
}

#[test]
fn cluster_table_is_collected() {
    let mut s = Screen::new(2, 10);
    for i in 0..10_000 {
        s.process(format!("\r{}e\u{301}\u{302}", i % 7).as_bytes());
    }
    assert_eq!(s.text(), "3e\u{301}\u{302}");
    assert!(s.heap_bytes() < 4096, "{} bytes", s.heap_bytes());
}

#[test]
fn replacement_and_c1_characters_are_dropped_like_vt100() {
    let s = screen(2, 10, "a\u{fffd}b\u{85}c\x7fd");
    assert_eq!(s.text(), "abcd");
}

// ----- UTF-8 -----

#[test]
fn utf8_split_across_calls() {
    let bytes = "é─😀中".as_bytes();
    for split in 0..=bytes.len() {
        let mut s = Screen::new(2, 20);
        s.process(&bytes[..split]);
        s.process(&bytes[split..]);
        assert_eq!(s.text(), "é─😀中", "split at {split}");
    }
    let mut s = Screen::new(2, 20);
    for b in bytes {
        s.process(std::slice::from_ref(b));
    }
    assert_eq!(s.text(), "é─😀中");
}

#[test]
fn invalid_utf8_is_dropped() {
    let s = screen(2, 20, "");
    drop(s);
    let mut s = Screen::new(2, 20);
    s.process(b"a\xffb\xe2\x94c\xc3\x1b[Kd\xed\xa0\x80e\xf0\x9f\x98");
    s.process(b"f");
    assert_eq!(s.text(), "abcdef");
}

// ----- control characters -----

#[test]
fn backspace_tab_and_line_feeds() {
    let s = screen(4, 20, "abc\x08\x08x\ty\x0bz\x0cw\x07");
    assert_eq!(s.text(), "axc     y\n         z\n          w");
    let s = screen(2, 10, "\t\t\t\tx");
    assert_eq!(s.text(), "         x", "tab stops at the last column");
    assert_eq!(screen(2, 10, "\x08\x08").cursor(), (0, 0));
}

#[test]
fn line_feed_keeps_the_column() {
    assert_eq!(screen(3, 10, "ab\ncd").text(), "ab\n  cd");
}

// ----- cursor movement -----

#[test]
fn relative_moves_clamp_at_the_edges() {
    let mut s = screen(5, 10, "\x1b[3;4H");
    assert_eq!(s.cursor(), (2, 3));
    s.process(b"\x1b[A");
    assert_eq!(s.cursor(), (1, 3));
    s.process(b"\x1b[99B");
    assert_eq!(s.cursor(), (4, 3));
    s.process(b"\x1b[2C");
    assert_eq!(s.cursor(), (4, 5));
    s.process(b"\x1b[0D");
    assert_eq!(s.cursor(), (4, 4), "0 means 1");
    s.process(b"\x1b[65535C");
    assert_eq!(s.cursor(), (4, 9));
    s.process(b"\x1b[2F");
    assert_eq!(s.cursor(), (2, 0));
    s.process(b"\x1b[E");
    assert_eq!(s.cursor(), (3, 0));
    s.process(b"\x1b[99999999A");
    assert_eq!(s.cursor(), (0, 0));
}

#[test]
fn absolute_moves() {
    let mut s = screen(5, 10, "\x1b[H");
    assert_eq!(s.cursor(), (0, 0));
    s.process(b"\x1b[4;7f");
    assert_eq!(s.cursor(), (3, 6));
    s.process(b"\x1b[2G");
    assert_eq!(s.cursor(), (3, 1));
    s.process(b"\x1b[5`");
    assert_eq!(s.cursor(), (3, 4));
    s.process(b"\x1b[2d");
    assert_eq!(s.cursor(), (1, 4));
    s.process(b"\x1b[99;99H");
    assert_eq!(s.cursor(), (4, 9));
    s.process(b"\x1b[;3H");
    assert_eq!(s.cursor(), (0, 2));
}

#[test]
fn origin_mode_is_relative_to_the_scroll_region() {
    let mut s = screen(6, 10, "\x1b[2;4r\x1b[?6h");
    assert_eq!(s.cursor(), (1, 0));
    s.process(b"\x1b[2;3H");
    assert_eq!(s.cursor(), (2, 2));
    s.process(b"\x1b[9;1H");
    assert_eq!(s.cursor(), (3, 0), "clamped to the region");
    s.process(b"\x1b[?6l");
    assert_eq!(s.cursor(), (0, 0));
}

// ----- erasing -----

#[test]
fn erase_in_display() {
    let base = "11111\r\n22222\r\n33333\x1b[2;3H";
    assert_eq!(screen(3, 5, &format!("{base}\x1b[J")).text(), "11111\n22");
    assert_eq!(screen(3, 5, &format!("{base}\x1b[0J")).text(), "11111\n22");
    assert_eq!(screen(3, 5, &format!("{base}\x1b[1J")).text(), "\n   22\n33333");
    assert_eq!(screen(3, 5, &format!("{base}\x1b[2J")).text(), "");
    assert_eq!(screen(3, 5, &format!("{base}\x1b[2J")).cursor(), (1, 2), "ED does not move the cursor");
    assert_eq!(screen(3, 5, &format!("{base}\x1b[?2J")).text(), "");
    assert_eq!(screen(3, 5, &format!("{base}\x1b[5J")).text(), "11111\n22222\n33333", "unknown mode");
}

#[test]
fn erase_in_line_and_characters() {
    let base = "abcdefgh\x1b[4G";
    assert_eq!(screen(2, 8, &format!("{base}\x1b[K")).text(), "abc");
    assert_eq!(screen(2, 8, &format!("{base}\x1b[1K")).text(), "    efgh");
    assert_eq!(screen(2, 8, &format!("{base}\x1b[2K")).text(), "");
    assert_eq!(screen(2, 8, &format!("{base}\x1b[2X")).text(), "abc  fgh");
    assert_eq!(screen(2, 8, &format!("{base}\x1b[99X")).text(), "abc");
}

#[test]
fn erase_scrollback() {
    let mut s = screen(2, 5, "a\r\nb\r\nc\r\nd");
    assert_eq!(s.scrollback(), "a\nb");
    s.process(b"\x1b[3J");
    assert_eq!(s.scrollback(), "");
    assert_eq!(s.text(), "c\nd", "ED 3 leaves the screen");
}

// ----- inserting and deleting -----

#[test]
fn insert_and_delete_characters() {
    assert_eq!(screen(2, 8, "abcdefgh\x1b[3G\x1b[2@").text(), "ab  cdef");
    assert_eq!(screen(2, 8, "abcdefgh\x1b[3G\x1b[2P").text(), "abefgh");
    assert_eq!(screen(2, 8, "abcdefgh\x1b[3G\x1b[99P").text(), "ab");
    assert_eq!(screen(2, 8, "abcdefgh\x1b[3G\x1b[@").cursor(), (0, 2));
}

#[test]
fn insert_and_delete_lines() {
    let base = "1\r\n2\r\n3\r\n4\x1b[2;1H";
    assert_eq!(screen(4, 5, &format!("{base}\x1b[L")).text(), "1\n\n2\n3");
    assert_eq!(screen(4, 5, &format!("{base}\x1b[2M")).text(), "1\n4");
    assert_eq!(screen(4, 5, &format!("{base}\x1b[99L")).text(), "1");
    // Within a scroll region only.
    assert_eq!(screen(4, 5, &format!("{base}\x1b[1;3r\x1b[2;1H\x1b[L")).text(), "1\n\n2\n4");
    assert_eq!(screen(4, 5, &format!("{base}\x1b[1;2r\x1b[4;1H\x1b[L")).text(), "1\n2\n3\n4");
}

// ----- scrolling -----

#[test]
fn scroll_up_and_down() {
    let base = "1\r\n2\r\n3\r\n4";
    assert_eq!(screen(4, 5, &format!("{base}\x1b[S")).text(), "2\n3\n4");
    assert_eq!(screen(4, 5, &format!("{base}\x1b[2T")).text(), "\n\n1\n2");
    assert_eq!(screen(4, 5, &format!("{base}\x1b[2;3r\x1b[S")).text(), "1\n3\n\n4");
    assert_eq!(screen(4, 5, &format!("{base}\x1b[2;3r\x1b[T")).text(), "1\n\n2\n4");
}

#[test]
fn scroll_region_limits_line_feeds() {
    let s = screen(4, 5, "top\x1b[2;3r\x1b[4;1Hbot\x1b[2;1Ha\r\nb\r\nc");
    assert_eq!(s.text(), "top\nb\nc\nbot");
    assert_eq!(s.cursor(), (2, 1));
    assert_eq!(s.scrollback(), "", "a region below row 0 keeps nothing");
    // DECSTBM homes the cursor to the region's top; an empty region resets it.
    assert_eq!(screen(4, 5, "\x1b[3;4r").cursor(), (2, 0));
    assert_eq!(screen(4, 5, "\x1b[3;4r\x1b[3;3r").cursor(), (0, 0));
}

#[test]
fn reverse_index_scrolls_down_at_the_top() {
    let s = screen(3, 5, "1\r\n2\r\n3\x1b[H\x1bM");
    assert_eq!(s.text(), "\n1\n2");
    assert_eq!(s.cursor(), (0, 0));
    let s = screen(3, 5, "1\r\n2\r\n3\x1b[2;1H\x1bMx");
    assert_eq!(s.text(), "x\n2\n3");
}

#[test]
fn index_and_next_line() {
    let s = screen(2, 5, "ab\x1bDc\x1bEd");
    assert_eq!(s.text(), "  c\nd");
    assert_eq!(s.scrollback(), "ab");
}

// ----- saving the cursor -----

#[test]
fn save_and_restore_cursor() {
    let s = screen(4, 10, "\x1b[2;3H\x1b7\x1b[4;9Hx\x1b8y");
    assert_eq!(s.cursor(), (1, 3));
    let s = screen(4, 10, "\x1b[2;3H\x1b[s\x1b[4;9Hx\x1b[uy");
    assert_eq!(s.cursor(), (1, 3));
    // With parameters, `CSI s` is DECSLRM (not supported), not a save.
    let s = screen(4, 10, "\x1b[2;3H\x1b[s\x1b[4;9H\x1b[1;5s\x1b[u");
    assert_eq!(s.cursor(), (1, 2));
}

// ----- alternate screen -----

#[test]
fn alternate_screen_1049_saves_and_clears() {
    let mut s = screen(3, 10, "main\x1b[2;3H\x1b[?1049h");
    assert!(s.alternate_screen());
    assert_eq!(s.text(), "");
    s.process(b"\x1b[3;1Halt\r\n\r\n");
    assert_eq!(s.scrollback(), "", "the alternate screen keeps no scrollback");
    s.process(b"\x1b[?1049l");
    assert!(!s.alternate_screen());
    assert_eq!(s.text(), "main");
    assert_eq!(s.cursor(), (1, 2));
    // Entering again starts from a cleared screen.
    s.process(b"\x1b[?1049h");
    assert_eq!(s.text(), "");
}

#[test]
fn alternate_screen_47_keeps_its_contents() {
    let mut s = screen(3, 10, "main\x1b[?47halt\x1b[?47l");
    assert_eq!(s.text(), "main");
    s.process(b"\x1b[?47h");
    assert_eq!(s.text(), "alt");
    assert_eq!(s.cursor(), (0, 3), "each screen has its own cursor");
    // 1047 clears the alternate screen when leaving it.
    s.process(b"\x1b[?1047l\x1b[?1047h");
    assert_eq!(s.text(), "");
}

// ----- modes, title -----

#[test]
fn modes() {
    let mut s = Screen::default();
    assert_eq!(s.size(), (40, 120));
    assert!(s.cursor_visible());
    assert!(!s.bracketed_paste());
    s.process(b"\x1b[?25l\x1b[?2004h");
    assert!(!s.cursor_visible());
    assert!(s.bracketed_paste());
    s.process(b"\x1b[?2004l");
    assert!(!s.bracketed_paste());
    s.process(b"\x1b[?25;2004h");
    assert!(s.cursor_visible());
    assert!(s.bracketed_paste());
}

#[test]
fn title_from_osc_0_and_2() {
    let mut s = Screen::new(2, 10);
    s.process(b"\x1b]0;first\x07");
    assert_eq!(s.title(), "first");
    s.process(b"\x1b]2;second\x1b\\x");
    assert_eq!(s.title(), "second");
    assert_eq!(s.text(), "x");
    s.process(b"\x1b]1;icon\x07\x1b]8;;http://x\x07");
    assert_eq!(s.title(), "second", "other OSCs are ignored");
    s.process(b"\x1b]0;a;b\x07");
    assert_eq!(s.title(), "a;b");
    s.process(format!("\x1b]2;{}\x07", "é".repeat(1000)).as_bytes());
    assert_eq!(s.title().len(), 1024);
    // Split across calls.
    s.process(b"\x1b]0;sp");
    s.process(b"lit\x07");
    assert_eq!(s.title(), "split");
}

#[test]
fn reset_clears_everything_but_the_title() {
    let s = screen(3, 10, "\x1b]0;t\x07a\r\nb\x1b[?25l\x1b[?2004h\x1b[2;3r\x1b[?1049hx\x1bc");
    assert_eq!(s.text(), "");
    assert_eq!(s.cursor(), (0, 0));
    assert!(!s.alternate_screen());
    assert!(s.cursor_visible());
    assert!(!s.bracketed_paste());
    assert_eq!(s.title(), "t");
    let s = screen(3, 10, "\x1b[2;3r\x1bc1\r\n2\r\n3\r\n4");
    assert_eq!(s.text(), "2\n3\n4", "the scroll region is reset");
}

#[test]
fn unsupported_sequences_are_ignored() {
    let s = screen(
        2,
        30,
        "\x1b[1;31ma\x1b[38;2;1;2;3mb\x1b[0m\x1b[?1000h\x1b[?1006h\x1b[>1u\x1b[=1;1u\x1b[?u\
         \x1bP1$qm\x1b\\\x1b_apc\x1b\\\x1b^pm\x1b\\\x1b(B\x1b)0\x1b=\x1b>\x1b[ q\x1b[!p\x1b[8;50;50tc",
    );
    assert_eq!(s.text(), "abc");
    assert_eq!(s.cursor(), (0, 3));
}

#[test]
fn repeat_last_character() {
    assert_eq!(screen(2, 10, "ab\x1b[3b").text(), "abbbb");
    assert_eq!(screen(2, 10, "中\x1b[2b").text(), "中中中");
    assert_eq!(screen(2, 10, "\x1b[3b").text(), "", "nothing printed yet");
}

// ----- resizing -----

#[test]
fn resize_keeps_text_and_clamps_the_cursor() {
    let mut s = screen(3, 10, "abcdefghij\r\n12");
    s.resize(3, 5);
    assert_eq!(s.size(), (3, 5));
    assert_eq!(s.text(), "abcde\n12");
    s.resize(3, 20);
    assert_eq!(s.text(), "abcde\n12");
    s.process(b"\x1b[1;99H");
    assert_eq!(s.cursor(), (0, 19));
    s.resize(0, 0);
    assert_eq!(s.size(), (1, 1), "clamped to at least 1x1");
}

#[test]
fn resize_keeps_the_cursor_row_in_view() {
    // Shorter: blank rows below the cursor go first, then rows scroll off the top.
    let mut s = screen(5, 10, "1\r\n2\r\n3\r\n4");
    s.resize(2, 10);
    assert_eq!(s.text(), "3\n4");
    assert_eq!(s.cursor(), (1, 1));
    assert_eq!(s.scrollback(), "1\n2");
    // Taller again: as many blank rows at the top as scrolled off (like vt100).
    s.resize(5, 10);
    assert_eq!(s.text(), "\n\n3\n4");
    assert_eq!(s.cursor(), (3, 1));
    // With nothing scrolled off, rows are added at the bottom.
    let mut s = screen(2, 10, "1\r\n2");
    s.resize(4, 10);
    assert_eq!(s.text(), "1\n2");
    assert_eq!(s.cursor(), (1, 1));
}

#[test]
fn resize_applies_to_the_hidden_screen_too() {
    let mut s = screen(3, 10, "main text\x1b[?1049halt");
    s.resize(3, 4);
    assert_eq!(s.text(), "alt");
    s.process(b"\x1b[?1049l");
    assert_eq!(s.text(), "main");
}

// ----- scrollback -----

#[test]
fn scrollback_keeps_the_last_4_kib_of_main_screen_lines() {
    let mut s = Screen::new(3, 20);
    for i in 0..2000 {
        s.process(format!("line {i}\r\n").as_bytes());
    }
    let sb = s.scrollback();
    assert!(sb.len() <= 4096 && sb.len() > 3000, "{} bytes", sb.len());
    assert!(sb.starts_with("line "), "starts at a line: {:?}", &sb[..20]);
    assert!(sb.ends_with("line 1997"));
    assert_eq!(s.text(), "line 1998\nline 1999");
}

#[test]
fn scrollback_joins_soft_wrapped_rows() {
    let s = screen(2, 4, "abcdefgh\r\nx\r\ny\r\nz");
    assert_eq!(s.scrollback(), "abcdefgh\nx");
}

// ----- version -----

#[test]
fn version_changes_with_text_cursor_and_title() {
    let mut s = Screen::new(3, 10);
    let mut last = s.version();
    for input in [&b"a"[..], b"\r", b"\x1b[2;2H", b"\x1b]0;t\x07", "é".as_bytes(), b"\x1b[K", b"\n"] {
        s.process(input);
        assert_ne!(s.version(), last, "after {input:?}");
        last = s.version();
    }
    s.process(b"\x1b[31m\x1b]0;t\x07\x1b[?1000h");
    assert_eq!(s.version(), last, "colours, the same title and mouse modes change nothing");
}

// ----- compact form -----

#[test]
fn compact_screen_costs_little_and_keeps_working() {
    let mut s = Screen::new(40, 120);
    s.process(b"\x1b]0;bash\x07user@host:~/repo$ ls\r\nCargo.toml  src\r\nuser@host:~/repo$ ");
    let active = s.heap_bytes();
    assert!((19_000..24_000).contains(&active), "active screen holds {active} bytes");
    let (text, cursor) = (s.text(), s.cursor());
    s.compact();
    assert!(s.is_compact());
    let compact = s.heap_bytes();
    assert!(compact < 1024, "compact screen holds {compact} bytes");
    assert_eq!(s.text(), text);
    assert_eq!(s.cursor(), cursor);
    assert_eq!(s.row_text(1), "Cargo.toml  src");
    assert_eq!(s.title(), "bash");
    s.process(b"ls");
    assert!(!s.is_compact());
    assert_eq!(s.text(), format!("{text}ls"));
}

#[test]
fn compact_round_trip_is_exact() {
    // Wide characters, clusters, written spaces, soft wraps, the hidden main screen.
    let input = "a中b e\u{301} \u{26a0}\u{fe0f}  x\x1b[5Gy\r\n0123456789abcdefghij\x1b[?1049h\x1b[2;3Halt 字\u{308}";
    let more = "\x1b[H\x1b[2@z\x1b[?1049l\x1b[Kq\x1b[3;1H   ";
    let mut plain = Screen::new(4, 12);
    plain.process(input.as_bytes());
    plain.process(more.as_bytes());
    let mut compacted = Screen::new(4, 12);
    compacted.process(input.as_bytes());
    compacted.compact();
    assert_eq!(compacted.text(), screen(4, 12, input).text());
    compacted.process(more.as_bytes());
    assert_eq!(compacted.text(), plain.text());
    assert_eq!(compacted.cursor(), plain.cursor());
    compacted.compact();
    compacted.resize(3, 8);
    plain.resize(3, 8);
    assert_eq!(compacted.text(), plain.text());
    assert_eq!(compacted.scrollback(), plain.scrollback());
}

#[test]
fn screen_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Screen>();
}

#[test]
fn debug_shows_the_state() {
    let s = screen(2, 3, "\x1b]0;t\x07x");
    let debug = format!("{s:?}");
    assert!(debug.starts_with("Screen {"), "{debug}");
    assert!(debug.contains("cursor: (0, 1)"), "{debug}");
}

#[test]
fn ascii_run_length() {
    assert_eq!(ascii_run(b""), 0);
    assert_eq!(ascii_run(b"abc\rdef"), 3);
    assert_eq!(ascii_run(&[b'x'; 40]), 40);
    let mut long = vec![b'y'; 37];
    long[33] = 0x1b;
    assert_eq!(ascii_run(&long), 33);
    assert_eq!(ascii_run(b"~\x7f"), 1);
}

#[test]
fn scrolled_counts_rows_that_left_the_top_and_survives_clears() {
    let mut s = Screen::new(2, 10);
    s.process(b"a\r\nb\r\nc\r\nd");
    assert_eq!(s.scrolled(), 2);
    s.process(b"\x1b[3J\x1bc");
    assert_eq!(s.scrolled(), 2);
    s.process(b"\x1b[?1049hx\r\ny\r\nz");
    assert_eq!(s.scrolled(), 2, "the alternate screen does not scroll the main one");
}

// ----- skipping plain floods -----

/// `n` plain log lines ending in `\r\n`, of varying length (up to `width` bytes).
fn log_lines(n: usize, width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let line = format!("{i:>6} request handled in {}ms path=/api/{}", i % 97, "x".repeat(i % 23));
        out.extend_from_slice(&line.as_bytes()[..line.len().min(width)]);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Line feeds a flood must still hold after the skipped part on a screen of `rows`.
fn needed(rows: u16) -> usize {
    2 * usize::from(rows) + cell::SCROLLBACK_CAP + 1
}

/// Everything a caller can read from a screen.
fn observable(s: &Screen) -> String {
    let rows: Vec<String> = (0..s.size().0).map(|r| s.row_text(r)).collect();
    format!(
        "text={:?} rows={rows:?} cursor={:?} scrollback={:?} title={:?} alt={} visible={} paste={} size={:?} scrolled={}",
        s.text(),
        s.cursor(),
        s.scrollback(),
        s.title(),
        s.alternate_screen(),
        s.cursor_visible(),
        s.bracketed_paste(),
        s.size(),
        s.scrolled()
    ) + &format!(" modes={:?}", s.modes())
}

/// Feeds `prior` then `data` to two screens, one with `process`, one with `process_flood`,
/// checks that they agree (also after a REP and a taller resize, which read the last
/// printed character and the rows scrolled off), and returns the bytes skipped.
fn flood_agrees(size: (u16, u16), prior: &[u8], data: &[u8]) -> usize {
    let mut full = Screen::new(size.0, size.1);
    full.process(prior);
    let mut fast = Screen::new(size.0, size.1);
    fast.process(prior);
    let version = fast.version();
    full.process(data);
    let skipped = fast.process_flood(data);
    assert_eq!(observable(&fast), observable(&full), "skipped {skipped} bytes");
    assert_eq!(fast.version() == version, full.version() == version, "the version moves when the text does");
    for s in [&mut full, &mut fast] {
        s.process(b"\x1b[3b");
        s.resize(size.0.saturating_add(300), size.1);
    }
    assert_eq!(observable(&fast), observable(&full), "after REP and resize");
    skipped
}

#[test]
fn flood_with_a_shift_out_in_the_skipped_part_keeps_the_character_set() {
    // SO (and SI) print nothing but switch the character set: the modes after the
    // flood must be the ones parsing everything gives.
    let mut data = b"start\x0e".to_vec();
    data.extend_from_slice(&log_lines(10_000, 80));
    flood_agrees((24, 80), b"", &data);
    let mut back = b"\x1b)0\x0eline drawing\r\n".to_vec();
    back.extend_from_slice(b"\x0f");
    back.extend_from_slice(&log_lines(10_000, 80));
    flood_agrees((24, 80), b"", &back);
}

#[test]
fn flood_of_plain_lines_is_skipped_to_its_end() {
    let data = log_lines(20_000, 200);
    let s = screen(40, 120, "$ cat big.log\r\nstill on this line");
    let skip = s.skippable_prefix(&data);
    // Only the lines the kept part needs remain (about 60 bytes each).
    assert!(skip > 0 && data.len() - skip < needed(40) * 64, "skipped {skip} of {}", data.len());
    assert_eq!(&data[skip..skip + 2], b"\r\n", "the kept part starts at a CR");
    assert_eq!(flood_agrees((40, 120), b"$ cat big.log\r\nstill on this line", &data), skip);
    // The cursor may be anywhere, even waiting to wrap.
    let prior = format!("\x1b[5;1H{}", "w".repeat(120));
    assert!(flood_agrees((40, 120), prior.as_bytes(), &data) > 0);
}

#[test]
fn flood_counts_wrapped_rows_exactly() {
    // Long lines that wrap, tabs, wide characters, a line without CR, C0 and C1 bytes that
    // the screen ignores, invalid UTF-8.
    let mut data = Vec::new();
    for i in 0..6000 {
        match i % 9 {
            0 => data.extend_from_slice("x".repeat(i % 400).as_bytes()),
            1 => data.extend_from_slice("\tcol\t\t中文字 — wide 😀 ".repeat(i % 13).as_bytes()),
            2 => data.extend_from_slice(b"bell\x07 so\x0e si\x0f c1\x9b[31m del\x7f bad\xe4\xb8 end"),
            3 => data.extend_from_slice(b"lf only\n"),
            4 => data.extend_from_slice(b"vt\x0bff\x0cback\x08\x08space"),
            5 => data.extend_from_slice("e\u{301} combining \u{20e3}".as_bytes()),
            _ => data.extend_from_slice(format!("line {i}").as_bytes()),
        }
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(&log_lines(needed(10), 40));
    for size in [(10, 37), (10, 8), (1, 1), (3, 2)] {
        assert!(flood_agrees(size, b"prompt> ", &data) > 0, "{size:?}");
    }
}

#[test]
fn flood_after_escape_sequences_is_skipped_from_the_last_one() {
    let mut data = b"\x1b[1;32mcoloured\x1b[0m and then\r\n".to_vec();
    data.extend_from_slice(&log_lines(10_000, 80));
    let s = Screen::new(24, 80);
    assert_eq!(s.skippable_prefix(&data), 0, "an ESC in the prefix");
    assert!(flood_agrees((24, 80), b"", &data) > data.len() / 2);
    // An unterminated title before the flood: nothing is skipped, the title takes it.
    let mut titled = b"\x1b]0;never ends".to_vec();
    titled.extend_from_slice(&log_lines(10_000, 80));
    assert_eq!(flood_agrees((24, 80), b"", &titled), 0);
}

#[test]
fn flood_is_not_skipped_in_states_it_does_not_model() {
    let data = log_lines(10_000, 80);
    for prior in [
        "\x1b[2;10r",   // a scroll region
        "\x1b[?6h",     // origin mode
        "\x1b[?1049h",  // the alternate screen
        "\x1b[?7l",     // no autowrap
        "\x1b[",        // inside an escape sequence
        "\x1b]0;title", // inside a string
    ] {
        assert_eq!(screen(24, 80, prior).skippable_prefix(&data), 0, "{prior:?}");
        assert_eq!(flood_agrees((24, 80), prior.as_bytes(), &data), 0, "{prior:?}");
    }
    // Sequences that leave a simple state behind are fine.
    let prior = "\x1b[2;10r\x1b[r\x1b[?1049h\x1b[?1049l\x1b[?7l\x1b[?7h\x1b]0;t\x07\u{4e2d}\x1b[1D";
    assert!(screen(24, 80, prior).skippable_prefix(&data) > 0);
    assert!(flood_agrees((24, 80), prior.as_bytes(), &data) > 0);
    // A partial UTF-8 character.
    let mut s = Screen::new(24, 80);
    s.process(b"\xe4\xb8");
    assert_eq!(s.skippable_prefix(&data), 0);
    assert_eq!(flood_agrees((24, 80), b"\xe4\xb8", &data), 0);
}

#[test]
fn flood_needs_enough_lines_after_the_cut() {
    let s = Screen::new(24, 80);
    let need = needed(24);
    assert_eq!(s.skippable_prefix(&log_lines(need - 1, 80)), 0, "too few line feeds");
    // Exactly enough: only the first line's text can go.
    let data = log_lines(need, 80);
    let first_cr = data.iter().position(|&b| b == b'\r').expect("a CR");
    assert_eq!(s.skippable_prefix(&data), first_cr);
    assert_eq!(flood_agrees((24, 80), b"", &data), first_cr);
    // Lines ending in LF only never put the cursor in column 0.
    let lf_only: Vec<u8> = log_lines(10_000, 80).into_iter().filter(|&b| b != b'\r').collect();
    assert_eq!(s.skippable_prefix(&lf_only), 0, "no CR");
    assert_eq!(flood_agrees((24, 80), b"", &lf_only), 0);
    // Nothing printed after the cut: REP would repeat a different character.
    let mut blank = log_lines(100, 80);
    blank.extend(b"\r\n".repeat(need + 10));
    assert_eq!(s.skippable_prefix(&blank), 0, "no text kept");
    assert_eq!(flood_agrees((24, 80), b"", &blank), 0);
}

#[test]
fn flood_with_emoji_presentation_is_skipped_only_where_it_cannot_matter() {
    let s = Screen::new(10, 20);
    let need = needed(10);
    // U+FE0F can widen a cell written before the cut: not in the first screenfuls kept.
    let mut near_cut = log_lines(100, 20);
    near_cut.extend_from_slice("\t\u{fe0f}\r\n".as_bytes());
    near_cut.extend_from_slice(&log_lines(need - 5, 20));
    assert_eq!(s.skippable_prefix(&near_cut), 0);
    assert_eq!(flood_agrees((10, 20), "\u{26a0}".as_bytes(), &near_cut), 0);
    // In a short dropped line it cannot make a row wrap.
    let mut short = "\u{26a0}\u{fe0f} ok\r\n".repeat(50).into_bytes();
    short.extend_from_slice(&log_lines(need + 10, 20));
    assert!(s.skippable_prefix(&short) > 0);
    assert!(flood_agrees((10, 20), b"", &short) > 0);
    // In a dropped line long enough to wrap the count would be unsure.
    let mut long = "\u{26a0}\u{fe0f}".repeat(30).into_bytes();
    long.extend_from_slice(b"\r\n");
    long.extend_from_slice(&log_lines(need + 10, 20));
    assert_eq!(s.skippable_prefix(&long), 0);
    assert_eq!(flood_agrees((10, 20), b"", &long), 0);
}

/// What dropping `data[..cut]` would give without the checks: the rest parsed, the
/// counters advanced by the rows the dropped part scrolls.
fn dropped_blindly(size: (u16, u16), prior: &[u8], data: &[u8], cut: usize) -> Screen {
    let mut s = Screen::new(size.0, size.1);
    s.process(prior);
    let rows = flood::dropped_rows(&data[..cut], s.cursor().1, size.1).expect("a sure count");
    s.term.skip_rows(rows);
    s.process(&data[cut..]);
    s
}

#[test]
fn flood_checks_are_needed() {
    let need = needed(5);
    // U+FE0F after a TAB widens the cell before it, which holds something else in each
    // path: the columns, and so the wraps, differ.
    let prior = b"\r\n1234567\xe2\x9a\xa0\x1b[H";
    let mut data = b"zz\r\nzz\r\nzz".to_vec();
    let cut = data.len();
    data.extend_from_slice("\r\n\t\u{fe0f}yyyyyyyyyyyy".as_bytes());
    data.extend_from_slice(&log_lines(need, 20));
    assert_eq!(screen(5, 20, "").skippable_prefix(&data), 0);
    let mut full = screen(5, 20, std::str::from_utf8(prior).expect("utf-8"));
    full.process(&data);
    assert_ne!(dropped_blindly((5, 20), prior, &data, cut).scrolled(), full.scrolled());
    // Nothing printed after the cut: REP repeats another character.
    let mut data = b"q".to_vec();
    data.extend(b"\r\n".repeat(need + 1));
    let mut full = screen(5, 20, "z");
    full.process(&data);
    let mut blind = dropped_blindly((5, 20), b"z", &data, 1);
    assert_eq!(observable(&blind), observable(&full));
    full.process(b"\x1b[b");
    blind.process(b"\x1b[b");
    assert_ne!(full.text(), blind.text());
    // Too few rows after the cut to fill the scrollback window: it shows the dropped rows.
    let mut data = log_lines(100, 20);
    let cut = data.len() - 2;
    data.extend_from_slice(&log_lines(100, 20));
    let mut full = Screen::new(5, 20);
    full.process(&data);
    assert_ne!(dropped_blindly((5, 20), b"", &data, cut).scrollback(), full.scrollback());
}

#[test]
fn mid_sequence_while_an_escape_sequence_or_a_character_is_cut() {
    let cases: &[(&[u8], bool)] = &[
        (b"plain", false),
        (b"text\x1b", true),
        (b"text\x1b[3", true),
        (b"text\x1b[31m", false),
        (b"\x1b]0;title", true),
        (b"\x1b]0;title\x07", false),
        (b"\x1b]0;title\x1b\\", false),
        (b"\xe2\x94", true),
        (b"\xe2\x94\x80", false),
    ];
    for (bytes, mid) in cases {
        let mut s = Screen::new(5, 20);
        s.process(bytes);
        assert_eq!(s.mid_sequence(), *mid, "after {:?}", String::from_utf8_lossy(bytes));
    }
    let mut s = Screen::new(5, 20);
    s.process(b"\x1b[3");
    s.process(b"1mred");
    assert!(!s.mid_sequence());
}

#[test]
fn what_ends_the_sequence_the_output_stopped_in() {
    let st: &[u8] = b"\x1b\\";
    let after_esc: &[u8] = b"\\\x1b\\";
    let cases: &[(&[u8], &[u8])] = &[
        (b"plain", b""),
        (b"\x1b[1;31mred", b""),
        // Strings: DCS (an XTGETTCAP query, a sixel image), OSC, APC, PM, SOS.
        (b"\x1bP+q544e", st),
        (b"\x1bPq#0;2;0;0;0#0!10~", st),
        (b"\x1b]2;agent-title", st),
        (b"\x1b_Gf=24", st),
        (b"\x1b^pm", st),
        (b"\x1bXsos", st),
        // A CSI, an escape sequence, a character cut short.
        (b"\x1b[1;", st),
        (b"\x1b[?", st),
        (b"\x1b(", st),
        ("ab\u{2500}".as_bytes().split_last().expect("bytes").1, st),
        // The last byte an ESC: perhaps the start of a string's ST.
        (b"\x1bP+q544e\x1b", after_esc),
        (b"\x1bPtmux;\x1b\x1b", after_esc),
        (b"\x1b]2;t\x1b", after_esc),
        (b"\x1b", after_esc),
        (b"\x1b[1\x1b", after_esc),
    ];
    for (output, end) in cases {
        let mut s = Screen::new(4, 40);
        s.process(output);
        assert_eq!(s.sequence_end(), *end, "after {:?}", String::from_utf8_lossy(output));
        let before = s.row_text(0);
        s.process(end);
        assert!(!s.mid_sequence(), "after {:?}", String::from_utf8_lossy(output));
        s.process(b"after");
        assert_eq!(
            s.row_text(0),
            format!("{before}after"),
            "nothing printed after {:?}",
            String::from_utf8_lossy(output)
        );
    }
}

#[test]
fn resizes_do_not_grow_the_cluster_table_or_lose_the_hidden_screens_text() {
    let mut s = Screen::new(100, 100);
    let row = "e\u{301}".repeat(100);
    for r in 1..=100 {
        s.process(format!("\x1b[{r};1H{row}").as_bytes());
    }
    s.process(b"\x1b[?1049h\x1b[Halt");
    let before = s.heap_bytes();
    for i in 0..220 {
        s.resize(100, if i % 2 == 0 { 99 } else { 100 });
    }
    let after = s.heap_bytes();
    s.process(b"\x1b[?1049l");
    assert!(after < before + (1 << 20), "heap grew from {before} to {after} bytes over 220 resizes");
    // The first resize to 99 columns cut the last one.
    assert_eq!(s.row_text(0), "e\u{301}".repeat(99), "the main screen's text survives");
}

#[test]
fn cluster_collection_on_a_large_screen_waits_in_proportion_to_its_size() {
    // Each collection scans every cell: on a 1024 × 1024 screen a stream of combining
    // marks used to trigger one every 64 marks (about 1 s of CPU per MB of output).
    let mut s = Screen::new(1024, 1024);
    s.process("\ra\u{301}".repeat(1000).as_bytes());
    assert!(s.term.clusters.gc_at >= 1024 * 1024 / 8, "next collection at {}", s.term.clusters.gc_at);
    assert!(s.heap_bytes() < 16 << 20, "{} bytes", s.heap_bytes());
    // A small screen still collects early.
    let mut small = Screen::new(24, 80);
    small.process("\ra\u{301}".repeat(1000).as_bytes());
    assert!(small.term.clusters.gc_at <= 1024, "next collection at {}", small.term.clusters.gc_at);
}
