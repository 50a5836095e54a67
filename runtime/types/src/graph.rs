//! The job graph: which operators run together as one task, with what
//! parallelism, and how records reach each vertex. The JobManager schedules
//! it; a TaskManager runs its subtasks; both derive it from the spec alone,
//! so they always agree.
//!
//! Operators are chained into one vertex while the data can stay in place:
//! same parallelism and no `keyBy`. A `keyBy` starts a new vertex fed by a
//! hash exchange over key groups (unless everything on both sides runs with
//! parallelism 1); a change of parallelism starts one fed by a rebalance.
//! Files are read by one subtask; a file or stdout sink is written by one.

use crate::spec::{JobSpec, PartitionSpec, SinkSpec, SourceSpec};

/// How records reach a vertex from the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partitioning {
    /// The first vertex: it reads the source.
    Source,
    /// Subtask i of the previous vertex feeds subtask i (equal parallelism).
    Forward,
    /// Batches go round-robin to the subtasks.
    Rebalance,
    /// Every batch goes to every subtask.
    Broadcast,
    /// Each row goes to the subtask that owns its key's key group.
    Hash(Vec<String>),
}

impl Partitioning {
    pub fn name(&self) -> &'static str {
        match self {
            Partitioning::Source => "source",
            Partitioning::Forward => "forward",
            Partitioning::Rebalance => "rebalance",
            Partitioning::Broadcast => "broadcast",
            Partitioning::Hash(_) => "hash",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vertex {
    pub parallelism: u32,
    pub input: Partitioning,
    /// Indices into the spec's operators, in chain order.
    pub operators: Vec<usize>,
    /// Operator names joined by `+`, "source" or "sink" when it has none.
    pub name: String,
    /// Whether the vertex reads the source / writes the sink.
    pub reads_source: bool,
    pub writes_sink: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobGraph {
    pub vertices: Vec<Vertex>,
}

impl JobGraph {
    pub fn of(spec: &JobSpec) -> JobGraph {
        let source_parallelism = match spec.source {
            SourceSpec::Generator(_) => spec.parallelism,
            SourceSpec::Text(_) | SourceSpec::Jsonl(_) => 1,
        };
        let mut vertices = vec![(source_parallelism, Partitioning::Source, Vec::new())];
        for (index, op) in spec.operators.iter().enumerate() {
            let parallelism = spec.operator_parallelism(op);
            let current = vertices.last().map(|v| v.0).unwrap_or(1);
            let chainable = match (&op.partition, op.key_by.is_empty()) {
                (Some(PartitionSpec::Rebalance | PartitionSpec::Broadcast), _) => false,
                (_, true) => parallelism == current,
                (_, false) => parallelism == 1 && current == 1,
            };
            if chainable {
                if let Some(vertex) = vertices.last_mut() {
                    vertex.2.push(index);
                }
            } else {
                let input = match (&op.partition, op.key_by.is_empty()) {
                    (Some(PartitionSpec::Broadcast), _) => Partitioning::Broadcast,
                    (_, false) => Partitioning::Hash(op.key_by.clone()),
                    _ => Partitioning::Rebalance,
                };
                vertices.push((parallelism, input, vec![index]));
            }
        }
        let single_sink = matches!(
            spec.sink,
            SinkSpec::Stdout(_) | SinkSpec::Jsonl(_) | SinkSpec::File(_)
        );
        if single_sink && vertices.last().map(|v| v.0) != Some(1) {
            vertices.push((1, Partitioning::Rebalance, Vec::new()));
        }
        let count = vertices.len();
        let vertices = vertices
            .into_iter()
            .enumerate()
            .map(|(position, (parallelism, input, operators))| {
                let name = if operators.is_empty() {
                    if position == 0 { "source" } else { "sink" }.to_string()
                } else {
                    operators
                        .iter()
                        .map(|&i| spec.operators[i].name.as_str())
                        .collect::<Vec<_>>()
                        .join("+")
                };
                Vertex {
                    parallelism,
                    input,
                    operators,
                    name,
                    reads_source: position == 0,
                    writes_sink: position + 1 == count,
                }
            })
            .collect();
        JobGraph { vertices }
    }

    /// Task slots the job needs: as in Flink's default slot sharing, one
    /// slot holds one subtask of every vertex, so the widest vertex decides.
    pub fn required_slots(&self) -> u32 {
        self.vertices
            .iter()
            .map(|v| v.parallelism)
            .max()
            .unwrap_or(1)
    }

    /// The partitioning a producer of vertex `vertex` uses towards the next
    /// one, resolved for its parallelism: one consumer means forward.
    pub fn output_of(&self, vertex: usize) -> Option<Partitioning> {
        self.vertices.get(vertex)?;
        let consumer = self.vertices.get(vertex + 1)?;
        Some(match &consumer.input {
            Partitioning::Broadcast => Partitioning::Broadcast,
            _ if consumer.parallelism == 1 => Partitioning::Forward,
            other => other.clone(),
        })
    }

    /// How many producers feed each subtask of `vertex`.
    pub fn producers_of(&self, vertex: usize) -> usize {
        if vertex == 0 {
            return 0;
        }
        self.vertices[vertex - 1].parallelism as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(yaml: &str) -> JobGraph {
        JobGraph::of(&JobSpec::from_yaml(yaml).unwrap())
    }

    #[test]
    fn chains_until_a_key_by_or_a_parallelism_change() {
        let job = graph(
            "name: t\nparallelism: 2\nsource: {type: generator, count: 10}\n\
             operators:\n  - {name: a, builtin: count, keyBy: [key]}\n  - {name: b, builtin: count, keyBy: [key], parallelism: 3}\n\
             sink: {type: stdout}\n",
        );
        let shape: Vec<(u32, Partitioning, Vec<usize>, &str)> = job
            .vertices
            .iter()
            .map(|v| {
                (
                    v.parallelism,
                    v.input.clone(),
                    v.operators.clone(),
                    v.name.as_str(),
                )
            })
            .collect();
        let hash = || Partitioning::Hash(vec!["key".to_string()]);
        assert_eq!(
            shape,
            vec![
                (2, Partitioning::Source, vec![], "source"),
                (2, hash(), vec![0], "a"),
                (3, hash(), vec![1], "b"),
                (1, Partitioning::Rebalance, vec![], "sink"),
            ]
        );
        assert_eq!(job.required_slots(), 3);
        assert_eq!(job.output_of(2), Some(Partitioning::Forward));
        assert_eq!(job.producers_of(3), 3);
        assert!(job.vertices[3].writes_sink && !job.vertices[2].writes_sink);
    }

    #[test]
    fn everything_chains_at_parallelism_one() {
        let job = graph(
            "name: t\nsource: {type: text, path: x}\n\
             operators:\n  - {name: a, builtin: count, keyBy: [line]}\nsink: {type: stdout}\n",
        );
        assert_eq!(job.vertices.len(), 1);
        assert_eq!(job.vertices[0].operators, vec![0]);
        assert!(job.vertices[0].reads_source && job.vertices[0].writes_sink);
    }

    #[test]
    fn rebalance_and_broadcast_start_a_vertex() {
        let job = graph(
            "name: t\nparallelism: 2\nsource: {type: generator, count: 10}\n\
             operators:\n  - {name: a, builtin: count, partition: rebalance, keyBy: []}\n  - {name: b, builtin: count, partition: broadcast}\n\
             sink: {type: blackhole}\n",
        );
        let inputs: Vec<&Partitioning> = job.vertices.iter().map(|v| &v.input).collect();
        assert_eq!(
            inputs,
            vec![
                &Partitioning::Source,
                &Partitioning::Rebalance,
                &Partitioning::Broadcast
            ]
        );
        assert_eq!(job.output_of(1), Some(Partitioning::Broadcast));
    }
}
