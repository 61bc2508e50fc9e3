//! HypoPG with a real sample beside it. HypoPG answers from planner costs in the target and
//! builds nothing, but it cannot model every index (1.3 rejects GIN and GiST), it has no
//! statistics for an expression it hypothesizes (so `lower(email) = $1` is costed at the
//! default selectivity), and its size estimates can be far off (a covering index estimated at
//! 2.6 times its real size). When some candidate is beyond HypoPG or has an expression key,
//! the advisor starts a throwaway copy holding a sample of the rows (through a
//! [`SampleStarter`] the command supplies) and, since it exists, proves every candidate there
//! with real builds: times and sizes measured, scaled to the live table sizes. When no sample
//! can be started, HypoPG's answers stand and what it refused is reported with the flag that
//! proves it.

use super::candidates::{IndexCandidate, KeyExpr};
use super::cost::{Maintenance, WriteCounters};
use super::error::AdviseError;
use super::evaluate::{ShadowClient, ShadowLab};
use super::hypothetical::HypotheticalLab;
use super::prove::{Baseline, CostUnit, Placement, Prover};
use crate::policy::Policy;
use postgres::Client;
use std::collections::HashMap;

/// A started sample: the connection to the copy, what keeps the copy alive (dropped when the
/// lab is), how the report names it, and the sampled share of each table.
pub struct StartedSample {
    /// Connection to the copy's database.
    pub client: Client,
    /// Dropped when the lab is done (the throwaway server, say).
    pub keep_alive: Box<dyn std::any::Any>,
    /// How the report names the copy.
    pub label: String,
    /// Table -> live rows per copied row, for each sampled table (absent: copied whole).
    pub sample: Option<HashMap<String, f64>>,
}

/// Starts a sample copy of the target on demand, or says why it cannot (no server binaries
/// of the target's major version, say).
pub type SampleStarter<'a> = Box<dyn FnOnce() -> Result<StartedSample, String> + 'a>;

enum Fallback<'a> {
    NotNeeded(Option<SampleStarter<'a>>),
    Unavailable(String),
    Started {
        lab: Box<ShadowLab<'static>>,
        _keep_alive: Box<dyn std::any::Any>,
        label: String,
    },
}

/// Which lab holds the placed candidate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Hypo,
    Sample,
}

/// HypoPG in the target, with a sample copy for what HypoPG cannot model.
pub struct HybridLab<'a> {
    hypo: HypotheticalLab<'a>,
    fallback: Fallback<'a>,
    /// Candidates HypoPG refused, with its words.
    refused: HashMap<IndexCandidate, String>,
    /// Candidates HypoPG models without statistics (expression keys).
    unreliable: usize,
    /// The live times, from HypoPG's side (the target).
    live: Vec<Baseline>,
    placed: Option<Route>,
}

impl<'a> HybridLab<'a> {
    /// A lab in `target` (HypoPG must be installed there); `starter`, when given, makes the
    /// sample copy if a candidate needs it.
    pub fn new(
        target: &'a mut Client,
        starter: Option<SampleStarter<'a>>,
    ) -> Result<Self, AdviseError> {
        Ok(Self {
            hypo: HypotheticalLab::new(target)?,
            fallback: Fallback::NotNeeded(starter),
            refused: HashMap::new(),
            unreliable: 0,
            live: Vec::new(),
            placed: None,
        })
    }

    fn sample(&mut self) -> Option<&mut ShadowLab<'static>> {
        match &mut self.fallback {
            Fallback::Started { lab, .. } => Some(lab),
            _ => None,
        }
    }

    /// Starts the sample (once) and times the workload on it.
    fn start_sample(&mut self, policy: &Policy) -> Result<(), AdviseError> {
        let Fallback::NotNeeded(starter) = &mut self.fallback else {
            return Ok(());
        };
        let Some(start) = starter.take() else {
            self.fallback = Fallback::Unavailable("no sample copy was allowed".into());
            return Ok(());
        };
        tracing::info!("starting a sample copy for the candidates HypoPG cannot model");
        match start() {
            Err(why) => self.fallback = Fallback::Unavailable(why),
            Ok(started) => {
                let mut lab = ShadowLab::new(
                    None,
                    ShadowClient::Owned(Box::new(started.client)),
                    started.label.clone(),
                    started.sample,
                );
                lab.baselines(policy)?;
                lab.set_live(self.live.clone());
                self.fallback = Fallback::Started {
                    lab: Box::new(lab),
                    _keep_alive: started.keep_alive,
                    label: started.label,
                };
            }
        }
        Ok(())
    }
}

impl Prover for HybridLab<'_> {
    fn evaluation(&self) -> String {
        let hypo = self.hypo.evaluation();
        match &self.fallback {
            Fallback::Started { label, .. } => format!(
                "materialized on {label}, started because HypoPG cannot model {} candidate(s) and has no statistics for {} with an expression key; times on it scaled to the live table sizes",
                self.refused.len(),
                self.unreliable
            ),
            Fallback::Unavailable(why) if !self.refused.is_empty() => {
                format!("{hypo}; no sample copy for what HypoPG cannot model: {why}")
            }
            _ => hypo,
        }
    }

    fn unit(&self) -> CostUnit {
        CostUnit::Ratio
    }

    fn baselines(&mut self, policy: &Policy) -> Result<Vec<Baseline>, AdviseError> {
        self.live = self.hypo.baselines(policy)?;
        Ok(self.live.clone())
    }

    /// Tries every candidate in HypoPG; if any is beyond it, starts the sample.
    fn prepare(
        &mut self,
        policy: &Policy,
        candidates: &[IndexCandidate],
    ) -> Result<(), AdviseError> {
        for c in candidates {
            if let Placement::Unmodelled(why) = self.hypo.place(c)? {
                self.refused.insert(c.clone(), why);
            } else {
                self.hypo.remove()?;
            }
        }
        self.unreliable = candidates
            .iter()
            .filter(|c| {
                c.keys
                    .iter()
                    .any(|k| matches!(k.expr, KeyExpr::Expression(_)))
            })
            .count();
        if !self.refused.is_empty() || self.unreliable > 0 {
            self.start_sample(policy)?;
        }
        Ok(())
    }

    fn costs_without(
        &mut self,
        policy: &Policy,
        candidate: &IndexCandidate,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        match self.sample() {
            Some(lab) => lab.costs_without(policy, candidate, measure),
            None => self.hypo.costs_without(policy, candidate, measure),
        }
    }

    fn place(&mut self, candidate: &IndexCandidate) -> Result<Placement, AdviseError> {
        let refused = self.refused.get(candidate).cloned();
        let placement = match (self.sample(), refused) {
            (Some(lab), _) => {
                let p = lab.place(candidate)?;
                self.placed = (p == Placement::Placed).then_some(Route::Sample);
                return Ok(p);
            }
            (None, Some(why)) => Placement::Unmodelled(why),
            (None, None) => self.hypo.place(candidate)?,
        };
        self.placed = (placement == Placement::Placed).then_some(Route::Hypo);
        Ok(placement)
    }

    /// The real size of the build on the sample, else HypoPG's estimate.
    fn size_bytes(&mut self) -> Result<i64, AdviseError> {
        match (self.placed, self.sample()) {
            (Some(Route::Sample), Some(lab)) => lab.size_bytes(),
            (Some(Route::Hypo), _) => self.hypo.size_bytes(),
            _ => Err(AdviseError::NothingPlaced),
        }
    }

    fn costs_with(
        &mut self,
        policy: &Policy,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        match (self.placed, self.sample()) {
            (Some(Route::Sample), Some(lab)) => lab.costs_with(policy, measure),
            _ => self.hypo.costs_with(policy, measure),
        }
    }

    /// Where candidates are placed: the sample once started, else the target (HypoPG).
    fn session(&mut self) -> Option<&mut Client> {
        if self.sample().is_some() {
            return self.sample().and_then(|lab| lab.session());
        }
        self.hypo.session()
    }

    fn remove(&mut self) -> Result<(), AdviseError> {
        match (self.placed.take(), self.sample()) {
            (Some(Route::Sample), Some(lab)) => lab.remove(),
            _ => self.hypo.remove(),
        }
    }

    /// Timed on the sample once it exists, else HypoPG's documented estimate.
    fn maintenance(&mut self, candidate: &IndexCandidate) -> Result<Maintenance, AdviseError> {
        match self.sample() {
            Some(lab) => lab.maintenance(candidate),
            None => self.hypo.maintenance(candidate),
        }
    }

    fn write_counters(&mut self) -> Result<WriteCounters, AdviseError> {
        self.hypo.write_counters()
    }

    fn calls_per_min(&mut self, policy: &Policy) -> Result<Vec<Option<f64>>, AdviseError> {
        self.hypo.calls_per_min(policy)
    }
}
