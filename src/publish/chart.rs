//! Bar charts as inline SVG for the HTML reports: one series, drawn in black and grey with
//! the value written on each bar, so that a chart reads in black and white and when
//! printed. A chart is an image with a title and a description for a screen reader; the
//! page's table beside it holds the same figures.

use maud::{Markup, html};

/// One bar: its label under it, its value, and the value as the page writes it (or, with
/// no value, why: empty for the chart's `missing` text).
pub(crate) struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub shown: String,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room under the bars for their labels, and above for the values.
const BOTTOM: f64 = 28.0;
const TOP: f64 = 22.0;

/// A bar chart of `bars` on a scale from 0 to `max` (the largest value if that is more).
/// `id` makes the title and description referable; `missing` is written where a bar has
/// no value.
pub(crate) fn bars(
    id: &str,
    title: &str,
    description: &str,
    bars: &[Bar],
    max: f64,
    missing: &str,
) -> Markup {
    let top = bars
        .iter()
        .filter_map(|b| b.value)
        .fold(max, f64::max)
        .max(f64::MIN_POSITIVE);
    let slot = WIDTH / bars.len().max(1) as f64;
    let plot = HEIGHT - BOTTOM - TOP;
    let title_id = format!("{id}-titel");
    let desc_id = format!("{id}-uitleg");
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%"
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) aria-labelledby=(format!("{title_id} {desc_id}")) {
            title id=(title_id) { (title) }
            desc id=(desc_id) { (description) }
            line x1="0" y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#000" stroke-width="1" {}
            @for (i, bar) in bars.iter().enumerate() {
                @let x = i as f64 * slot;
                @let centre = x + slot / 2.0;
                @match bar.value {
                    Some(value) => {
                        @let h = (value.max(0.0) / top) * plot;
                        rect x=(format!("{:.1}", x + slot * 0.2)) y=(format!("{:.1}", HEIGHT - BOTTOM - h))
                            width=(format!("{:.1}", slot * 0.6)) height=(format!("{:.1}", h))
                            fill="#555" stroke="#000" stroke-width="1" {}
                        text x=(format!("{centre:.1}")) y=(format!("{:.1}", HEIGHT - BOTTOM - h - 6.0))
                            text-anchor="middle" font-size="13" { (bar.shown) }
                    }
                    None => {
                        text x=(format!("{centre:.1}")) y=(format!("{:.1}", HEIGHT - BOTTOM - 6.0))
                            text-anchor="middle" font-size="12" font-style="italic" {
                            @if bar.shown.is_empty() { (missing) } @else { (bar.shown) }
                        }
                    }
                }
                text x=(format!("{centre:.1}")) y=(format!("{:.1}", HEIGHT - 8.0))
                    text-anchor="middle" font-size="13" { (bar.label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: Option<f64>) -> Bar {
        Bar {
            label: label.into(),
            value,
            shown: value.map(|v| v.to_string()).unwrap_or_default(),
        }
    }

    #[test]
    fn a_chart_names_itself_for_a_screen_reader_and_writes_each_value() {
        let svg = bars(
            "respons",
            "Respons <per> kwartaal",
            "Het aandeel & meer",
            &[
                bar("2026-Q1", Some(0.5)),
                bar("2026-Q2", None),
                bar("2026-Q3", Some(1.0)),
            ],
            1.0,
            "n.g.",
        )
        .into_string();
        assert!(svg.contains(r#"role="img""#), "{svg}");
        assert!(
            svg.contains(r#"aria-labelledby="respons-titel respons-uitleg""#),
            "{svg}"
        );
        // Escaped, not markup.
        assert!(svg.contains("Respons &lt;per&gt; kwartaal"), "{svg}");
        assert!(svg.contains("Het aandeel &amp; meer"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains(">n.g.<") && svg.contains(">2026-Q2<"), "{svg}");
        // The full bar reaches the top of the plot; the half one half way.
        assert!(
            svg.contains(r#"height="170.0""#) && svg.contains(r#"height="85.0""#),
            "{svg}"
        );
    }
}
