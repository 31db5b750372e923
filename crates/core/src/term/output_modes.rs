//! The terminal state that decides where and how a program's next output lands: its
//! scroll region, origin mode, insert mode, line wrap and character set. A terminal that
//! starts showing a program midway (`warden attach`) draws the screen's text and then
//! sets these ([`Screen::output_modes`](super::Screen::output_modes), in a session's
//! snapshot), or the output that follows lands elsewhere than on the program's screen:
//! lines meant to scroll inside a region scroll the whole screen.

use serde::{Deserialize, Serialize};

/// Rows of a scroll region (DECSTBM, `CSI top ; bottom r`), 0-based and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrollRegion {
    /// The region's top row.
    pub top: u16,
    /// The region's bottom row.
    pub bottom: u16,
}

/// The state of the shown screen that later output depends on; every field is absent
/// (default) as a terminal starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputModes {
    /// The scroll region, when it is not the whole screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll_region: Option<ScrollRegion>,
    /// Origin mode (DECOM, `CSI ? 6 h`): cursor rows count from the region's top, and the
    /// cursor cannot leave the region.
    #[serde(default, skip_serializing_if = "is_false")]
    pub origin: bool,
    /// Insert mode (IRM, `CSI 4 h`): text pushes the rest of the row right.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insert: bool,
    /// Line wrap at the right margin is off (DECAWM, `CSI ? 7 l`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub autowrap_off: bool,
    /// G0 holds DEC line drawing (`ESC ( 0`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub line_drawing: bool,
    /// Shifted out (SO): G1 is in use until SI.
    #[serde(default, skip_serializing_if = "is_false")]
    pub shifted_out: bool,
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl OutputModes {
    /// Whether everything is as a terminal starts.
    pub fn is_default(&self) -> bool {
        *self == OutputModes::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Screen;
    use super::*;

    fn after(bytes: &[u8]) -> Screen {
        let mut s = Screen::new(24, 80);
        s.process(bytes);
        s
    }

    #[test]
    fn what_decides_where_later_output_lands_is_read_from_the_output() {
        let all = OutputModes {
            scroll_region: Some(ScrollRegion { top: 4, bottom: 9 }),
            origin: true,
            insert: true,
            autowrap_off: true,
            line_drawing: true,
            shifted_out: true,
        };
        let cases: &[(&[u8], OutputModes)] = &[
            (b"plain\r\ntext", OutputModes::default()),
            (b"\x1b[5;10r\x1b[?6h\x1b[4h\x1b[?7l\x1b(0\x0e", all),
            (
                b"\x1b[5;10r",
                OutputModes { scroll_region: Some(ScrollRegion { top: 4, bottom: 9 }), ..OutputModes::default() },
            ),
            // The whole screen is no region; nor is one whose top is not above its bottom.
            (b"\x1b[1;24r", OutputModes::default()),
            (b"\x1b[5;10r\x1b[r", OutputModes::default()),
            (b"\x1b[9;3r", OutputModes::default()),
            (b"\x1b[?6h", OutputModes { origin: true, ..OutputModes::default() }),
            (b"\x1b[4h", OutputModes { insert: true, ..OutputModes::default() }),
            (b"\x1b[?7l", OutputModes { autowrap_off: true, ..OutputModes::default() }),
            (b"\x1b(0lqk", OutputModes { line_drawing: true, ..OutputModes::default() }),
            // Another set than DEC line drawing (British) is not replayed.
            (b"\x1b(A", OutputModes::default()),
            (b"\x1b(0\x1b(B", OutputModes::default()),
            (b"\x0e", OutputModes { shifted_out: true, ..OutputModes::default() }),
            (b"\x0e\x0f", OutputModes::default()),
            // Turned off again, and all of them by RIS.
            (b"\x1b[?6h\x1b[4h\x1b[?7l\x1b[?6l\x1b[4l\x1b[?7h", OutputModes::default()),
            (b"\x1b[5;10r\x1b[?6h\x1b[4h\x1b[?7l\x1b(0\x0e\x1bc", OutputModes::default()),
            // DECRC brings back the character set DECSC saved.
            (b"\x1b(0\x1b7\x1b(B\x1b8", OutputModes { line_drawing: true, ..OutputModes::default() }),
        ];
        for (bytes, want) in cases {
            assert_eq!(after(bytes).output_modes(), *want, "after {:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn the_modes_are_the_shown_screens() {
        // The main screen's region stays with it: the alternate screen starts without one,
        // and leaving it brings the main screen's back.
        let mut s = after(b"\x1b[5;10r\x1b[?1049h");
        assert_eq!(s.output_modes(), OutputModes::default());
        s.process(b"\x1b[2;20r\x1b[?7l");
        assert_eq!(s.output_modes().scroll_region, Some(ScrollRegion { top: 1, bottom: 19 }));
        s.process(b"\x1b[?1049l");
        assert_eq!(s.output_modes().scroll_region, Some(ScrollRegion { top: 4, bottom: 9 }));
        // A resize resets the region, as in vt100.
        s.resize(20, 80);
        assert_eq!(s.output_modes().scroll_region, None);
    }

    #[test]
    fn while_the_alternate_screen_is_shown_the_main_screen_under_it_is_kept() {
        let mut s = after(b"$ make\r\nbuilt\r\n$ \x1b[?1049h\x1b[Hframe of the tui");
        assert_eq!(s.text(), "frame of the tui");
        assert_eq!(s.main_text().as_deref(), Some("$ make\nbuilt\n$ "));
        assert_eq!(s.main_cursor(), Some((2, 2)), "where leaving the alternate screen puts the cursor");
        // Compacted (an idle session), the same.
        s.compact();
        assert_eq!(s.main_text().as_deref(), Some("$ make\nbuilt\n$ "));
        s.process(b"\x1b[?1049l");
        assert_eq!((s.main_text(), s.main_cursor()), (None, None), "the main screen is shown");
        assert_eq!(s.cursor(), (2, 2));
        // Mode 47 keeps it too; a screen that never left the main one has none.
        let s = after(b"under\x1b[?47hover");
        assert_eq!((s.main_text().as_deref(), s.main_cursor()), (Some("under"), Some((0, 5))));
        assert_eq!(after(b"only main").main_text(), None);
    }

    #[test]
    fn on_the_wire_only_what_is_on_is_written_and_a_missing_field_is_off() {
        assert_eq!(serde_json::to_string(&OutputModes::default()).expect("json"), "{}");
        let modes = after(b"\x1b[5;10r\x1b[?6h\x1b(0").output_modes();
        let json = serde_json::to_string(&modes).expect("json");
        assert_eq!(json, r#"{"scroll_region":{"top":4,"bottom":9},"origin":true,"line_drawing":true}"#);
        assert_eq!(serde_json::from_str::<OutputModes>(&json).expect("parses"), modes);
        assert_eq!(serde_json::from_str::<OutputModes>("{}").expect("parses"), OutputModes::default());
    }
}
