//! A city's mashup as a drawing: its components as boxes, in columns by how deep in a chain of
//! links they sit (callers left, the components they call to the right), each link an arrow
//! labelled with its contract, each route an entry into its box. Laid out here; the template
//! draws it as SVG.

use crate::admin::components::{CityView, Health};
use std::collections::BTreeMap;

const NODE_WIDTH: f64 = 210.0;
const NODE_HEIGHT: f64 = 58.0;
/// Room between columns for the arrows and their contract labels.
const COLUMN_GAP: f64 = 300.0;
/// How far from its start an arrow bends to the height of its end; from there it runs straight,
/// under its label, clear of the other arrows.
const BEND: f64 = 70.0;
const ROW_GAP: f64 = 22.0;
const MARGIN: f64 = 16.0;
/// A line of a box's text.
const LINE: f64 = 17.0;

pub struct Graph {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

pub struct Node {
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub version: u64,
    pub health: Health,
    /// The city's routes into it.
    pub routes: Vec<String>,
}

impl Node {
    /// Where each line of its text starts, top to bottom.
    pub fn line(&self, n: impl std::borrow::Borrow<usize>) -> f64 {
        self.y + 22.0 + LINE * *n.borrow() as f64
    }
}

pub struct Edge {
    pub from: String,
    pub to: String,
    pub contract: String,
    /// The SVG path of the arrow.
    pub path: String,
    pub label_x: f64,
    pub label_y: f64,
}

/// Lays out `city`'s components and links.
pub fn layout(city: &CityView) -> Graph {
    let names: Vec<&str> = city.components.iter().map(|c| c.name.as_str()).collect();
    let links: Vec<(&str, &str, &str)> = city
        .components
        .iter()
        .flat_map(|c| c.links.iter().map(move |(contract, to)| (c.name.as_str(), to.as_str(), contract.as_str())))
        .filter(|(_, to, _)| names.contains(to))
        .collect();

    // A component's column: one more than its deepest caller's (at most one per component, so a
    // cycle of links cannot loop).
    let mut column: BTreeMap<&str, usize> = names.iter().map(|name| (*name, 0)).collect();
    for _ in 0..names.len() {
        for (from, to, _) in &links {
            let deeper = column[from] + 1;
            if column[to] < deeper && deeper < names.len() {
                column.insert(to, deeper);
            }
        }
    }
    let columns = column.values().max().map_or(0, |deepest| deepest + 1);

    // Rows: callers with the most links first in the first column; then each component under the
    // average row of its callers, so arrows run as straight as they can.
    let mut rows: Vec<Vec<&str>> = vec![Vec::new(); columns];
    let outgoing = |name: &str| links.iter().filter(|(from, ..)| *from == name).count();
    let mut first: Vec<&str> = names.iter().copied().filter(|n| column[n] == 0).collect();
    first.sort_by_key(|name| std::cmp::Reverse(outgoing(name)));
    rows[0] = first;
    for c in 1..columns {
        let placed: Vec<Vec<&str>> = rows[..c].to_vec();
        let row_of = |name: &str| placed.iter().find_map(|col| col.iter().position(|n| *n == name));
        let mut here: Vec<(f64, &str)> = names
            .iter()
            .copied()
            .filter(|n| column[n] == c)
            .map(|name| {
                let callers: Vec<f64> = links
                    .iter()
                    .filter(|(_, to, _)| *to == name)
                    .filter_map(|(from, ..)| row_of(from).map(|r| r as f64))
                    .collect();
                (callers.iter().sum::<f64>() / callers.len().max(1) as f64, name)
            })
            .collect();
        here.sort_by(|a, b| a.0.total_cmp(&b.0));
        rows[c] = here.into_iter().map(|(_, name)| name).collect();
    }

    let height_of = |name: &str| {
        let routes = city.components.iter().find(|c| c.name == name).map_or(0, |c| c.routes.len());
        NODE_HEIGHT + LINE * routes.saturating_sub(1) as f64
    };
    let mut nodes = Vec::new();
    let mut height: f64 = 0.0;
    for (c, names) in rows.iter().enumerate() {
        let mut y = MARGIN;
        for name in names {
            let component = city
                .components
                .iter()
                .find(|k| k.name == *name)
                .expect("the graph lays out the names of the city's own components");
            let node_height = height_of(name);
            nodes.push(Node {
                name: component.name.clone(),
                x: MARGIN + c as f64 * (NODE_WIDTH + COLUMN_GAP),
                y,
                width: NODE_WIDTH,
                height: node_height,
                version: component.current.version,
                health: component.health,
                routes: component.routes.clone(),
            });
            y += node_height + ROW_GAP;
        }
        height = height.max(y - ROW_GAP + MARGIN);
    }

    // Arrows leave a box's right side spread over its height, in the order of their ends, and
    // end on the callee's left side, spread the same way; each label sits over its straight run.
    let node =
        |name: &str| nodes.iter().find(|n| n.name == name).expect("every component of the city was laid out above");
    let spread = |index: usize, count: usize, node: &Node| {
        let step = (node.height - 16.0) / count.max(1) as f64;
        node.y + 8.0 + step * (index as f64 + 0.5)
    };
    let rank = |mine: f64, all: Vec<f64>| all.iter().filter(|other| **other < mine).count();
    let mut edges = Vec::new();
    for (from, to, contract) in &links {
        let (a, b) = (node(from), node(to));
        let leaving: Vec<_> = links.iter().filter(|(f, ..)| f == from).collect();
        let arriving: Vec<_> = links.iter().filter(|(_, t, _)| t == to).collect();
        // Ties (two links between the same boxes) are told apart by their contract.
        let order = |n: &Node, contract: &str| n.y + contract.len() as f64 * 1e-6;
        let out = rank(order(b, contract), leaving.iter().map(|l| order(node(l.1), l.2)).collect());
        let inn = rank(order(a, contract), arriving.iter().map(|l| order(node(l.0), l.2)).collect());
        let (x1, y1) = (a.x + a.width, spread(out, leaving.len(), a));
        let (x2, y2) = (b.x - 4.0, spread(inn, arriving.len(), b));
        let (bend, half) = (x1 + BEND, x1 + BEND / 2.0);
        edges.push(Edge {
            from: from.to_string(),
            to: to.to_string(),
            contract: contract.to_string(),
            path: format!("M{x1:.1},{y1:.1} C{half:.1},{y1:.1} {half:.1},{y2:.1} {bend:.1},{y2:.1} L{x2:.1},{y2:.1}"),
            label_x: x2 - 8.0,
            label_y: y2 - 5.0,
        });
    }
    let width = MARGIN * 2.0 + columns as f64 * NODE_WIDTH + columns.saturating_sub(1) as f64 * COLUMN_GAP;
    Graph { width, height: height.max(NODE_HEIGHT + 2.0 * MARGIN), nodes, edges }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::components::{ComponentView, VersionView};
    use std::time::SystemTime;

    fn component(name: &str, links: &[(&str, &str)], routes: &[&str]) -> ComponentView {
        ComponentView {
            city: "lecce".into(),
            name: name.into(),
            current: VersionView {
                version: 1,
                sha256: String::new(),
                source: String::new(),
                loaded_at: String::new(),
                since: SystemTime::UNIX_EPOCH,
            },
            requests: 0,
            errors: 0,
            p50_seconds: None,
            p99_seconds: None,
            health: Health::Idle,
            failing_in_a_row: 0,
            previous: None,
            links: links.iter().map(|(c, to)| (c.to_string(), to.to_string())).collect(),
            routes: routes.iter().map(|r| r.to_string()).collect(),
            exports: vec![],
        }
    }

    fn overlap(a: &Node, b: &Node) -> bool {
        a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    }

    #[test]
    fn a_mashup_sits_left_of_what_it_calls_and_no_boxes_overlap() {
        let relocation = component(
            "relocation",
            &[("civic:tax/assessment@1", "local-tax"), ("civic:registry/registration@1", "residency")],
            &["/umzug"],
        );
        let city = CityView {
            id: "c".into(),
            name: "C".into(),
            hosts: vec![],
            components: vec![
                component("hello", &[], &["/hello", "/hallo"]),
                component("local-tax", &[], &["/steuern"]),
                relocation,
                component("residency", &[], &[]),
            ],
        };
        let graph = layout(&city);
        let at = |name: &str| graph.nodes.iter().find(|n| n.name == name).unwrap();
        assert!(at("relocation").x < at("local-tax").x && at("relocation").x < at("residency").x);
        assert_eq!(at("hello").x, at("relocation").x);
        assert_eq!(at("relocation").y, MARGIN, "the caller with most links comes first");
        for (i, a) in graph.nodes.iter().enumerate() {
            for b in &graph.nodes[i + 1..] {
                assert!(!overlap(a, b), "{} overlaps {}", a.name, b.name);
            }
            assert!(a.x + a.width <= graph.width && a.y + a.height <= graph.height);
        }
        assert_eq!(graph.edges.len(), 2);
        let labels: Vec<f64> = graph.edges.iter().map(|e| e.label_y).collect();
        assert!((labels[0] - labels[1]).abs() >= LINE, "labels apart: {labels:?}");
    }

    #[test]
    fn a_cycle_of_links_still_lays_out() {
        let city = CityView {
            id: "c".into(),
            name: "C".into(),
            hosts: vec![],
            components: vec![component("a", &[("x:y/z@1", "b")], &[]), component("b", &[("x:y/w@1", "a")], &[])],
        };
        let graph = layout(&city);
        assert_eq!((graph.nodes.len(), graph.edges.len()), (2, 2));
    }
}
