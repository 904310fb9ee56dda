//! Decoding raw bytes (the fuzz target) into a [`Setup`] and a sequence of [`Op`]s.

use brama_sync::Mode;

use super::{Cfg, Op, OpenHow, Progressive, ScopeAct, Setup};

struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.u8() & 1 == 1 {
            Some(f(self))
        } else {
            None
        }
    }

    fn cfg(&mut self) -> Cfg {
        Cfg {
            threshold: self.opt(|b| u32::from(b.u8() % 6)),
            expiry_ms: self.opt(|b| u64::from(b.u8() % 80)),
            strategy: self.opt(|b| {
                b.opt(|b| Progressive {
                    initial_ms: u64::from(b.u8() % 40),
                    max_ms: u64::from(b.u8() % 200),
                    factor_tenths: b.u8() % 40,
                })
            }),
            probes: self.opt(|b| u32::from(b.u8() % 4)),
            probe_timeout_ms: self.opt(|b| u64::from(b.u8() % 80)),
            jitter_bad: self.opt(|b| b.u8() & 1 == 1),
            metadata: self.opt(|b| (b.u8(), b.u8())),
            mode: self.opt(|b| b.mode()),
            inherit: self.opt(|b| b.u8()).unwrap_or(0),
        }
    }

    fn mode(&mut self) -> Mode {
        Mode::ALL[usize::from(self.u8()) % Mode::ALL.len()]
    }

    fn how(&mut self) -> OpenHow {
        match self.u8() % 3 {
            0 => OpenHow::Current,
            1 => OpenHow::ForMs(u64::from(self.u8() % 100)),
            _ => OpenHow::Indefinitely,
        }
    }
}

/// Decodes a setup and a sequence of ops from arbitrary bytes (every input decodes).
pub fn decode(data: &[u8]) -> (Setup, Vec<Op>) {
    let mut b = Bytes { data, at: 0 };
    let expiry_ms = 1 + u64::from(b.u8() % 50);
    let setup = Setup {
        threshold: 1 + u32::from(b.u8() % 4),
        expiry_ms,
        progressive: b.opt(|b| {
            let initial = 1 + u64::from(b.u8() % 20);
            (initial, initial + u64::from(b.u8() % 100), 10 + b.u8() % 30)
        }),
        probes: 1 + u32::from(b.u8() % 3),
        probe_timeout_ms: b.opt(|b| 1 + u64::from(b.u8() % 60)),
        inactive_ms: 1 + u64::from(b.u8() % 200),
        max_connections: b.opt(|b| 1 + usize::from(b.u8() % 3)),
        auto_register: b.u8() & 1 == 1,
        observe_reports: b.u8() & 1 == 1,
    };
    let mut ops = Vec::new();
    while !b.done() && ops.len() < 512 {
        let op = match b.u8() % 28 {
            0 => Op::Register(b.u8(), b.cfg()),
            1 => Op::Unregister(b.u8()),
            2 => Op::Available(b.u8()),
            3 => Op::Success(b.u8()),
            4 => Op::Failure(b.u8(), b.u8() & 1 == 1),
            5 => Op::Acquire(b.u8()),
            6 => Op::PermitSuccess(b.u8()),
            7 => Op::PermitFailure(b.u8()),
            8 => Op::PermitDrop(b.u8()),
            9 => Op::Connect(b.u8()),
            10 => Op::Disconnect(b.u8()),
            11 => Op::HandleAvailable(b.u8()),
            12 => Op::HandleSuccess(b.u8()),
            13 => Op::HandleFailure(b.u8()),
            14 => Op::Call(b.u8(), b.u8() & 1 == 1),
            15 => Op::Advance(u32::from(b.u8())),
            16 => Op::Sweep,
            17 => {
                let k = b.u8();
                let how = b.how();
                Op::Open(k, how, b.u8() & 1 == 1)
            }
            18 => Op::Close(b.u8()),
            19 => Op::Reset(b.u8()),
            20 => Op::Configure(b.u8(), b.cfg()),
            21 => Op::ConfigureDefaults(b.cfg()),
            22 => {
                let scope = b.u8();
                let act = match b.u8() % 4 {
                    0 => {
                        let how = b.how();
                        ScopeAct::Open(how, b.u8() & 1 == 1)
                    }
                    1 => ScopeAct::Close,
                    2 => ScopeAct::Reset,
                    _ => ScopeAct::Unregister,
                };
                Op::Scope(scope, act)
            }
            23 => Op::ConfigureScope(b.u8(), b.cfg()),
            24 => Op::SetMode(b.u8(), b.mode()),
            25 => Op::SetScopeMode(b.u8(), b.mode()),
            26 => Op::RoundTrip(u16::from(b.u8())),
            _ => Op::RestoreSelf,
        };
        ops.push(op);
    }
    (setup, ops)
}
