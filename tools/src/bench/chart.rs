//! The comparison as an SVG chart (`bench-peers --chart FILE.svg`): for each
//! scenario a group of bars, one per collector, of lines/s (top, log scale)
//! and CPU µs per line (bottom, log scale). Drawn with plotters' SVG backend
//! only (text is left to the SVG viewer's fonts).

use std::path::Path;

use plotters::prelude::*;

use super::{scenarios, summarize, Kind, Plan, Results, Scenario};

/// One scenario's bars.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub scenario: String,
    /// (collector, lines/s, CPU µs per line)
    pub bars: Vec<(Kind, f64, f64)>,
}

/// The chart's data: every comparison scenario (medians), UDP at full speed
/// (lines written) and churn (one line per connection: connections/s).
pub fn data(plan: &Plan, r: &Results) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut scs: Vec<Scenario> = r.compare.keys().map(|k| k.1).collect();
    scs.sort_by_key(|s| (s.tls, s.connections));
    scs.dedup();
    for sc in scs {
        let bars: Vec<_> = plan
            .collectors
            .iter()
            .filter_map(|&k| {
                let s = r.compare.get(&(k, sc)).and_then(|s| summarize(s))?;
                Some((k, s.lines_per_sec, s.cpu_us_per_line))
            })
            .collect();
        groups.push(Group {
            scenario: format!("{} ×{}", if sc.tls { "TLS" } else { "TCP" }, sc.connections),
            bars,
        });
    }
    let udp: Vec<_> = r
        .extra
        .udp
        .iter()
        .filter(|s| s.pace.is_none())
        .map(|s| (s.kind, s.written_per_sec, s.cpu_us_per_line))
        .collect();
    if !udp.is_empty() {
        groups.push(Group {
            scenario: "UDP".into(),
            bars: udp,
        });
    }
    for tls in [false, true] {
        let bars: Vec<_> = r
            .extra
            .churn
            .iter()
            .filter(|s| s.tls == tls)
            .map(|s: &scenarios::ChurnSample| (s.kind, s.per_sec, s.cpu_us_per_conn))
            .collect();
        if !bars.is_empty() {
            groups.push(Group {
                scenario: format!("churn {}", if tls { "TLS" } else { "TCP" }),
                bars,
            });
        }
    }
    groups.retain(|g| !g.bars.is_empty());
    groups
}

fn color(k: Kind) -> RGBColor {
    match k {
        Kind::Ours => RGBColor(0xd6, 0x27, 0x28),
        Kind::Rsyslog => RGBColor(0x1f, 0x77, 0xb4),
        Kind::SyslogNg => RGBColor(0x2c, 0xa0, 0x2c),
        Kind::Pysyslog => RGBColor(0x94, 0x67, 0xbd),
        Kind::Copier => RGBColor(0x7f, 0x7f, 0x7f),
    }
}

/// Decade bounds around the positive values.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)),
    )
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    groups: &[Group],
    kinds: &[Kind],
    title: &str,
    value: impl Fn(&(Kind, f64, f64)) -> f64,
) -> DrawResult {
    let (lo, hi) = log_range(groups.iter().flat_map(|g| g.bars.iter().map(&value)));
    let n = groups.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_label_formatter(&|v| {
            if *v >= 1e6 {
                format!("{:.0}M", v / 1e6)
            } else if *v >= 1e3 {
                format!("{:.0}k", v / 1e3)
            } else if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        })
        .draw()?;
    let width = 0.8 / kinds.len().max(1) as f64;
    for (ki, &k) in kinds.iter().enumerate() {
        let c = color(k);
        let rects: Vec<_> = groups
            .iter()
            .enumerate()
            .filter_map(|(gi, g)| {
                let b = g.bars.iter().find(|b| b.0 == k)?;
                let v = value(b);
                (v.is_finite() && v > 0.0).then(|| {
                    let x0 = gi as f64 + 0.1 + ki as f64 * width;
                    Rectangle::new([(x0, lo), (x0 + width * 0.9, v)], c.filled())
                })
            })
            .collect();
        chart
            .draw_series(rects)?
            .label(k.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
    }
    for (gi, g) in groups.iter().enumerate() {
        chart.draw_series(std::iter::once(Text::new(
            g.scenario.clone(),
            (gi as f64 + 0.3, lo),
            ("sans-serif", 14).into_font(),
        )))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Draw `groups` to `path` (SVG).
pub fn draw(path: &Path, groups: &[Group]) -> Result<(), String> {
    let mut kinds: Vec<Kind> = Vec::new();
    for g in groups {
        for b in &g.bars {
            if !kinds.contains(&b.0) {
                kinds.push(b.0);
            }
        }
    }
    let r = (|| -> DrawResult {
        let root = SVGBackend::new(path, (1100, 800)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(400);
        panel(
            &top,
            groups,
            &kinds,
            "lines/s (churn: connections/s), log scale",
            |b| b.1,
        )?;
        panel(
            &bottom,
            groups,
            &kinds,
            "CPU µs per line (churn: per connection), log scale",
            |b| b.2,
        )?;
        root.present()?;
        Ok(())
    })();
    r.map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ranges_are_decades() {
        assert_eq!(log_range([1.5e6, 2.0e4].into_iter()), (1e4, 1e7));
        assert_eq!(log_range([0.0, f64::NAN].into_iter()), (1.0, 10.0));
        assert_eq!(log_range([100.0].into_iter()), (100.0, 1000.0));
    }

    #[test]
    fn draws_an_svg_with_every_collector() {
        let groups = vec![
            Group {
                scenario: "TCP ×4".into(),
                bars: vec![(Kind::Ours, 1e7, 0.12), (Kind::Rsyslog, 1.5e6, 1.1)],
            },
            Group {
                scenario: "UDP".into(),
                bars: vec![(Kind::Ours, 1e6, 0.5), (Kind::SyslogNg, 2e5, 3.0)],
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.svg");
        draw(&p, &groups).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.starts_with("<svg") || svg.contains("<svg"), "{svg}");
        for w in ["ours", "rsyslog", "syslog-ng", "TCP ×4", "UDP"] {
            assert!(svg.contains(w), "{w} missing");
        }
    }
}
