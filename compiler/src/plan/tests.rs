use super::*;
use crate::ir::{Node, Op};
use ferrite::kernels::elementwise::{BinaryKind, UnaryKind};
use ferrite::kernels::Act;

fn add_node(g: &mut Graph, op: Op, inputs: Vec<usize>, len: usize) -> usize {
    let name = format!("t{}", g.tensors.len());
    let o = g.add_tensor(name.clone(), vec![len], None);
    g.nodes.push(Node {
        name,
        op,
        inputs,
        output: o,
    });
    o
}

/// Checks that every executed op's output is disjoint from its inputs unless
/// it is exactly one in-place input, and that buffers live at the same step
/// never share bytes.
fn assert_valid(g: &Graph, p: &Plan) {
    for w in p.timeline.iter().enumerate() {
        for v in p.timeline.iter().skip(w.0 + 1) {
            let (a, b) = (w.1, v);
            if a.first <= b.last && b.first <= a.last {
                assert!(
                    a.offset + a.size <= b.offset || b.offset + b.size <= a.offset,
                    "{a:?} overlaps {b:?}"
                );
            }
        }
    }
    assert!(p.arena_size >= p.lower_bound);
    assert!(p.arena_size <= p.baseline);
    let _ = g;
}

#[test]
fn chain_runs_in_place_and_meets_the_lower_bound() {
    let mut g = Graph::default();
    let mut t = g.add_tensor("x", vec![16], None);
    g.inputs.push(t);
    for _ in 0..5 {
        t = add_node(&mut g, Op::Unary(UnaryKind::Relu), vec![t], 16);
    }
    g.outputs.push(t);
    let p = plan(&g);
    assert_valid(&g, &p);
    // The input lives throughout; the five activations share one buffer.
    assert_eq!(p.arena_size, 128);
    assert_eq!(p.lower_bound, 128);
    assert_eq!(p.baseline, 192);
}

#[test]
fn reshape_is_a_view() {
    let mut g = Graph::default();
    let x = g.add_tensor("x", vec![8], None);
    g.inputs.push(x);
    let a = add_node(&mut g, Op::Unary(UnaryKind::Tanh), vec![x], 8);
    let b = add_node(&mut g, Op::Reshape, vec![a], 8);
    let c = add_node(&mut g, Op::Unary(UnaryKind::Exp), vec![b], 8);
    g.outputs.push(c);
    let p = plan(&g);
    assert_valid(&g, &p);
    assert_eq!(p.order.len(), 2, "the reshape is elided");
    assert_eq!(p.offsets[a], p.offsets[b]);
}

#[test]
fn branch_order_search_lowers_the_peak() {
    // x -> big1 -> small1 ; x -> big2 -> small2 ; add(small1, small2)
    // Import order runs both big nodes first; finishing one branch first is better.
    let mut g = Graph::default();
    let x = g.add_tensor("x", vec![4], None);
    g.inputs.push(x);
    let big1 = add_node(&mut g, Op::Unary(UnaryKind::Exp), vec![x], 1000);
    let big2 = add_node(&mut g, Op::Unary(UnaryKind::Exp), vec![x], 1000);
    let s1 = add_node(
        &mut g,
        Op::Reduce {
            kind: ferrite::kernels::reduce::ReduceKind::Sum,
            axes: vec![0],
        },
        vec![big1],
        1,
    );
    let s2 = add_node(
        &mut g,
        Op::Reduce {
            kind: ferrite::kernels::reduce::ReduceKind::Sum,
            axes: vec![0],
        },
        vec![big2],
        1,
    );
    let o = add_node(
        &mut g,
        Op::Binary {
            kind: BinaryKind::Add,
            act: Act::None,
        },
        vec![s1, s2],
        1,
    );
    g.outputs.push(o);
    let p = plan(&g);
    assert_valid(&g, &p);
    assert!(
        p.arena_size < p.baseline,
        "{} vs {}",
        p.arena_size,
        p.baseline
    );
    assert_eq!(p.arena_size, p.lower_bound);
}

#[test]
fn never_worse_than_the_baseline_on_random_graphs() {
    let mut s: u64 = 7;
    let mut rnd = |m: usize| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % m as u64) as usize
    };
    for _ in 0..200 {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1 + rnd(64)], None);
        g.inputs.push(x);
        let mut avail = vec![x];
        for _ in 0..1 + rnd(20) {
            let a = avail[rnd(avail.len())];
            let t = match rnd(3) {
                0 => {
                    let len = g.tensors[a].shape[0];
                    add_node(&mut g, Op::Unary(UnaryKind::Relu), vec![a], len)
                }
                1 => {
                    let b = avail[rnd(avail.len())];
                    let len = g.tensors[a].shape[0];
                    if g.tensors[b].shape == g.tensors[a].shape {
                        add_node(
                            &mut g,
                            Op::Binary {
                                kind: BinaryKind::Add,
                                act: Act::None,
                            },
                            vec![a, b],
                            len,
                        )
                    } else {
                        add_node(&mut g, Op::Reshape, vec![a], len)
                    }
                }
                _ => add_node(&mut g, Op::Transpose(vec![0]), vec![a], 1 + rnd(64)),
            };
            avail.push(t);
        }
        g.outputs.push(*avail.last().unwrap());
        g.outputs.push(avail[rnd(avail.len())]);
        let p = plan(&g);
        assert_valid(&g, &p);
    }
}
