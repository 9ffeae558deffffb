//! SVG charts of one board's headline figures: fork latency against resident memory, fault costs beside
//! their floors, and hashing throughput.
//!
//! plotters is built without its font back-ends: SVG text is drawn by whatever shows the file, so plotters
//! only estimates text sizes for the layout and needs no font files, fontconfig or system fonts. The fork
//! sizes go on a categorical axis (0, 1, 16, 64, 256 MiB, evenly spaced): 0 MiB has no place on a log
//! axis, and it is the baseline the others are read against. Latency goes on a log axis because eager
//! fork grows by orders of magnitude where the per-page fork grows less and the shared-table fork hardly moves.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::derived::{Derived, FLOOR_MEMCPY, FLOOR_SYSCALL, FLOOR_ZERO, FORK_MODES, ForkPoint};
use super::format;
use super::results::BoardResults;

const SIZE: (u32, u32) = (960, 540);
const FONT: &str = "sans-serif";
const COW: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const EAGER: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const PAGES: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const FLOOR: RGBColor = RGBColor(0x99, 0x99, 0x99);

/// One chart: its file name and its SVG text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub file_name: String,
    pub svg: String,
}

/// Writes the board's charts into `dir` and returns their paths; a chart with nothing measured is left
/// out.
pub fn write(dir: &Path, board: &BoardResults) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for chart in render(board)? {
        let path = dir.join(&chart.file_name);
        fs::write(&path, chart.svg).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The board's charts, each only if something in it was measured.
pub fn render(board: &BoardResults) -> Result<Vec<Chart>> {
    let name = &board.board;
    let d = &board.derived;
    let charts = [
        ("fork", fork_chart(name, &d.fork)?),
        ("faults", bar_chart(&format!("Page faults and their floors on {name}"), &fault_bars(d))?),
        ("hash", bar_chart(&format!("Hashing 4 KiB pages on {name}"), &hash_bars(d))?),
    ];
    Ok(charts
        .into_iter()
        .filter_map(|(kind, svg)| Some(Chart { file_name: format!("{kind}-{name}.svg"), svg: svg? }))
        .collect())
}

/// A bar of a bar chart.
struct Bar {
    name: String,
    value: f64,
    /// Floors (and the copy hashing is compared with) are drawn apart from what is compared with them.
    floor: bool,
}

/// The bars of a chart, and what the two colours mean.
struct Bars {
    unit: &'static str,
    measured: &'static str,
    floors: &'static str,
    bars: Vec<Bar>,
}

fn fault_bars(d: &Derived) -> Bars {
    let faults =
        d.faults.iter().filter_map(|f| Some(Bar { name: f.kind.clone(), value: f.ns?, floor: false }));
    let floors = [FLOOR_MEMCPY, FLOOR_ZERO, FLOOR_SYSCALL].into_iter().filter_map(|figure| {
        let name = figure.strip_prefix("floor.").unwrap_or(figure).to_owned();
        Some(Bar { name, value: d.floor(figure)?, floor: true })
    });
    Bars {
        unit: "ns per 4 KiB page",
        measured: "page fault",
        floors: "floor: the least work a fault does",
        bars: faults.chain(floors).collect(),
    }
}

fn hash_bars(d: &Derived) -> Bars {
    let bars = d
        .hash
        .iter()
        .filter_map(|h| {
            Some(Bar { name: h.algo.clone(), value: h.mb_per_s?, floor: h.algo.starts_with("memcpy") })
        })
        .collect();
    Bars { unit: "MB/s (10^6 bytes)", measured: "checksum", floors: "copy, for comparison", bars }
}

/// Turns a plotters error into one line.
fn drawing<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T> {
    result.map_err(|e| anyhow!("cannot draw a chart: {e}"))
}

/// The legend, framed, in the corner the chart's data leaves free.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    drawing(
        chart
            .configure_series_labels()
            .position(position)
            .label_font((FONT, 16))
            .background_style(WHITE)
            .border_style(BLACK)
            .draw(),
    )
}

/// Fork latency in each mode against resident memory; `None` with nothing measured.
fn fork_chart(board: &str, points: &[ForkPoint]) -> Result<Option<String>> {
    let measured: Vec<f64> = points
        .iter()
        .flat_map(|p| FORK_MODES.map(|m| p.latency.get(m)))
        .flatten()
        .filter(|ns| *ns > 0.0)
        .collect();
    let (Some(low), Some(high)) =
        (measured.iter().copied().reduce(f64::min), measured.iter().copied().reduce(f64::max))
    else {
        return Ok(None);
    };
    let last = i32::try_from(points.len()).context("too many fork sizes to chart")? - 1;
    let mib_label = |value: &SegmentValue<i32>| match value {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| points.get(i))
            .map_or_else(String::new, |p| p.mib.to_string()),
        _ => String::new(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        drawing(root.fill(&WHITE))?;
        let mut chart = drawing(
            ChartBuilder::on(&root)
                .caption(format!("Fork latency on {board}"), (FONT, 24))
                .margin(20)
                .x_label_area_size(60)
                .y_label_area_size(100)
                .build_cartesian_2d((0..last).into_segmented(), (low / 2.0..high * 2.0).log_scale()),
        )?;
        drawing(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(points.len())
                .x_label_formatter(&mib_label)
                .y_label_formatter(&|ns| format::duration(*ns))
                .x_desc("resident memory of the forking task (MiB)")
                .y_desc("fork latency (log scale)")
                .label_style((FONT, 15))
                .draw(),
        )?;
        let lines = [
            ("shared-table fork", COW, "tables"),
            ("per-page COW fork", PAGES, "pages"),
            ("eager fork", EAGER, "eager"),
        ];
        for (name, color, mode) in lines {
            let line: Vec<(SegmentValue<i32>, f64)> = (0..)
                .zip(points)
                .filter_map(|(i, p)| Some((SegmentValue::CenterOf(i), p.latency.get(mode)?)))
                .collect();
            drawing(chart.draw_series(LineSeries::new(line.clone(), color.stroke_width(2))))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
            drawing(chart.draw_series(line.into_iter().map(|point| Circle::new(point, 4, color.filled()))))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        drawing(root.present())?;
    }
    Ok(Some(svg))
}

/// One bar per value, each labelled with its value; `None` with no bars.
fn bar_chart(title: &str, chart_bars: &Bars) -> Result<Option<String>> {
    let bars = &chart_bars.bars;
    let Some(high) = bars.iter().map(|b| b.value).reduce(f64::max) else { return Ok(None) };
    let last = i32::try_from(bars.len()).context("too many bars to chart")? - 1;
    let bar_label = |value: &SegmentValue<i32>| match value {
        SegmentValue::CenterOf(i) => {
            usize::try_from(*i).ok().and_then(|i| bars.get(i)).map_or_else(String::new, |b| b.name.clone())
        }
        _ => String::new(),
    };
    let value_style = TextStyle::from((FONT, 14)).pos(Pos::new(HPos::Center, VPos::Bottom));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        drawing(root.fill(&WHITE))?;
        let mut chart = drawing(
            ChartBuilder::on(&root)
                .caption(title, (FONT, 24))
                .margin(20)
                .x_label_area_size(50)
                .y_label_area_size(100)
                // Room above the tallest bar for its value and the legend.
                .build_cartesian_2d((0..last).into_segmented(), 0.0..high * 1.35),
        )?;
        drawing(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(bars.len())
                .x_label_formatter(&bar_label)
                .y_label_formatter(&|v| format::grouped(*v, 0))
                .y_desc(chart_bars.unit)
                .label_style((FONT, 15))
                .draw(),
        )?;
        for (floor, color, meaning) in [(false, COW, chart_bars.measured), (true, FLOOR, chart_bars.floors)] {
            let group: Vec<(i32, &Bar)> = (0..).zip(bars).filter(|(_, bar)| bar.floor == floor).collect();
            if group.is_empty() {
                continue;
            }
            let rectangles = group.iter().map(|&(i, bar)| {
                let corners = [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), bar.value)];
                let mut rectangle = Rectangle::new(corners, color.filled());
                rectangle.set_margin(0, 0, 12, 12);
                rectangle
            });
            drawing(chart.draw_series(rectangles))?
                .label(meaning)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
            let values = group.iter().map(|&(i, bar)| {
                Text::new(
                    format::grouped(bar.value, 0),
                    (SegmentValue::CenterOf(i), bar.value),
                    value_style.clone(),
                )
            });
            drawing(chart.draw_series(values))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        drawing(root.present())?;
    }
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::run::{BenchRun, BoardRun, RawMeasure, RawSample};

    fn board(samples: &[(&str, &str, u64)]) -> BoardResults {
        let samples = samples
            .iter()
            .map(|(figure, labels, ns)| RawSample {
                figure: (*figure).to_owned(),
                labels: (*labels).to_owned(),
                measure: RawMeasure::Ticks { ticks: *ns, ops: 1 },
                timer_hz: 1_000_000_000,
            })
            .collect();
        let run = BenchRun { name: "all".into(), boot: 1, samples, garbled: Vec::new(), failure: None };
        let run = BoardRun { board: "raspi3b".into(), listed: vec!["all".into()], boots: 1, runs: vec![run] };
        BoardResults::new(&run, "raspi3b")
    }

    /// The contents of the SVG's `<text>` elements.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|piece| piece.rsplit_once("<text").and_then(|(_, element)| element.split_once('>')))
            .map(|(_, content)| content.trim().to_owned())
            .collect()
    }

    fn full_board() -> BoardResults {
        board(&[
            ("fork.latency", "mode=tables mib=0", 20_000),
            ("fork.latency", "mode=pages mib=0", 20_500),
            ("fork.latency", "mode=eager mib=0", 21_000),
            ("fork.latency", "mode=tables mib=16", 21_000),
            ("fork.latency", "mode=pages mib=16", 40_000),
            ("fork.latency", "mode=eager mib=16", 2_000_000),
            ("fault.cost", "kind=cow_copy", 900),
            ("fault.cost", "kind=zero_read", 300),
            ("floor.memcpy_4k", "", 400),
            ("hash.throughput", "algo=xxh3_64", 800),
            ("hash.throughput", "algo=memcpy", 400),
        ])
    }

    #[test]
    fn each_chart_names_its_series_in_svg_text() {
        let charts = render(&full_board()).unwrap();
        let names: Vec<&str> = charts.iter().map(|c| c.file_name.as_str()).collect();
        assert_eq!(names, ["fork-raspi3b.svg", "faults-raspi3b.svg", "hash-raspi3b.svg"]);
        let text = |svg: &str, label: &str| texts(svg).iter().any(|t| t == label);
        let [fork, faults, hash] = &charts[..] else { panic!() };
        assert!(fork.svg.starts_with("<svg") && fork.svg.contains("<text"), "{}", fork.svg);
        for label in
            ["shared-table fork", "per-page COW fork", "eager fork", "0", "16", "Fork latency on raspi3b"]
        {
            assert!(text(&fork.svg, label), "{label} missing from the fork chart: {}", fork.svg);
        }
        for label in ["cow_copy", "zero_read", "memcpy_4k", "900"] {
            assert!(text(&faults.svg, label), "{label} missing from the faults chart: {}", faults.svg);
        }
        // 4096 bytes in 800 ns: 5,120 MB/s.
        for label in ["xxh3_64", "memcpy", "5,120"] {
            assert!(text(&hash.svg, label), "{label} missing from the hash chart: {}", hash.svg);
        }
    }

    #[test]
    fn charts_with_nothing_measured_are_left_out_and_the_rest_are_written() {
        let only_faults = board(&[("fault.cost", "kind=cow_copy", 900)]);
        let dir = std::env::temp_dir().join(format!("cowpi-bench-charts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let written = write(&dir, &only_faults).unwrap();
        assert_eq!(written, [dir.join("faults-raspi3b.svg")]);
        let svg = fs::read_to_string(&written[0]).unwrap();
        assert!(texts(&svg).contains(&"cow_copy".to_owned()), "{svg}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
