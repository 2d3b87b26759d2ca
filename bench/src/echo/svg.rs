//! A grouped bar chart written as plain SVG (rectangles, lines and text; no
//! dependencies): one legend of series on top, then panels stacked
//! vertically, each with its own y axis, groups along x and one bar per
//! series in every group, its value written above it.

use std::fmt::Write as _;

/// One panel of the chart.
pub struct Panel {
    /// Title above the panel, with the unit.
    pub title: String,
    /// Group labels along the x axis.
    pub groups: Vec<String>,
    /// `values[group][series]`; `None` draws no bar (not measured).
    pub values: Vec<Vec<Option<f64>>>,
    /// Formats a value for the label above its bar.
    pub label: fn(f64) -> String,
}

const WIDTH: f64 = 980.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const PLOT_H: f64 = 190.0;
/// Height of a panel: title, plot, group labels.
const PANEL_H: f64 = PLOT_H + 70.0;
const LEGEND_H: f64 = 40.0;

/// Renders `panels` with the legend `series`: one `(name, fill colour)` per
/// bar in a group, in order.
pub fn render(title: &str, series: &[(&str, &str)], panels: &[Panel]) -> String {
    let height = LEGEND_H + 24.0 + PANEL_H * panels.len() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let mut x = LEFT;
    for (name, color) in series {
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{color}"/><text x="{}" y="43" font-size="12">{}</text>"#,
            x + 16.0,
            esc(name)
        );
        x += 24.0 + 7.5 * name.len() as f64;
    }
    for (p, panel) in panels.iter().enumerate() {
        let top = LEGEND_H + 24.0 + PANEL_H * p as f64;
        draw_panel(&mut s, panel, series, top);
    }
    s.push_str("</svg>\n");
    s
}

fn draw_panel(s: &mut String, panel: &Panel, series: &[(&str, &str)], top: f64) {
    let n_series = series.len();
    let plot_top = top + 30.0;
    let base = plot_top + PLOT_H;
    let max = panel
        .values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |a, &b| a.max(b));
    let step = nice_step(max / 4.0);
    let y_max = (max * 1.25).max(step);
    let y = |v: f64| base - v / y_max * PLOT_H;
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        top + 18.0,
        esc(&panel.title)
    );
    let mut tick = 0.0;
    while tick <= y_max {
        let ty = y(tick);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 4.0,
            ty + 3.0,
            esc(&(panel.label)(tick))
        );
        tick += step;
    }
    let groups = panel.groups.len().max(1) as f64;
    let group_w = (WIDTH - LEFT - RIGHT) / groups;
    let bar_w = (group_w * 0.8 / n_series.max(1) as f64).min(40.0);
    for (g, name) in panel.groups.iter().enumerate() {
        let gx = LEFT + group_w * g as f64;
        // Only the series measured in this group, side by side, centred;
        // each keeps its colour.
        let present: Vec<(usize, f64)> = panel.values[g]
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .collect();
        let first = gx + (group_w - bar_w * present.len() as f64) / 2.0;
        for (slot, &(i, v)) in present.iter().enumerate() {
            let bx = first + bar_w * slot as f64;
            let by = y(v);
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{by:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                bar_w - 2.0,
                base - by,
                series.get(i).map_or("#333", |x| x.1)
            );
            let lx = bx + bar_w / 2.0 + 3.0;
            let ly = by - 3.0;
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" font-size="9" transform="rotate(-90 {lx:.1} {ly:.1})">{}</text>"#,
                esc(&(panel.label)(v))
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            gx + group_w / 2.0,
            base + 16.0,
            esc(name)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/>"##,
        WIDTH - RIGHT
    );
}

/// A round axis step (1, 2 or 5 times a power of ten) of at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

/// Escapes text for SVG.
fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(37.0), 50.0);
        assert_eq!(nice_step(12_000.0), 20_000.0);
    }

    #[test]
    fn draws_a_bar_per_value() {
        let panel = Panel {
            title: "msgs/s".into(),
            groups: vec!["a".into(), "b<".into()],
            values: vec![vec![Some(1.0), None], vec![Some(2.0), Some(3.0)]],
            label: |v| format!("{v}"),
        };
        let svg = render("t", &[("x", "#f00"), ("y", "#00f")], &[panel]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        // Background + 2 legend squares + 3 bars.
        assert_eq!(svg.matches("<rect").count(), 6);
        assert!(svg.contains("b&lt;"));
    }
}
