//! The scenarios: deterministic snapshot streams (seeded PRNG), all in Europe/Berlin.

use flocker_core::retention::TimeZone;

use super::{Event, Rng, Scenario, civil};

const H: i64 = 3600;
const D: i64 = 86_400;
const MIB: u64 = 1 << 20;

/// 2023-01-01 00:00 UTC.
const Y2023: i64 = 1_672_531_200;
/// 2024-01-01 00:00 UTC (a Monday).
const Y2024: i64 = 1_704_067_200;

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::UTC)
}

/// Background writes: half the snapshots see nothing, the rest up to 8 MiB, rarely 2 GiB.
fn background(rng: &mut Rng) -> u64 {
    let u = rng.unit();
    if u < 0.5 {
        0
    } else if u < 0.998 {
        rng.range(64 * 1024, 8 * MIB)
    } else {
        2 << 30
    }
}

/// All scenarios, in table order.
pub fn all() -> Vec<Scenario> {
    vec![hourly_2y(), laptop(), dst(), clock(), bursts()]
}

/// Two years of hourly snapshots on a server.
pub fn hourly_2y() -> Scenario {
    let mut rng = Rng::new(1);
    let events = (0..2 * 365 * 24)
        .map(|k| {
            let t = Y2023 + k * H;
            Event {
                true_t: t,
                clock_t: t,
                written: background(&mut rng),
            }
        })
        .collect();
    Scenario {
        name: "hourly-2y",
        description: "two years of hourly snapshots (server, always on)",
        tz: berlin(),
        events,
        bursts: Vec::new(),
    }
}

/// A laptop: snapshots every 15 min while awake (weekdays 08:00–18:00 local), asleep at
/// night and on weekends, and off for a three-week holiday (2024-07-29 to 2024-08-18).
pub fn laptop() -> Scenario {
    let tz = berlin();
    let mut rng = Rng::new(2);
    let holiday = (Y2024 + 210 * D, Y2024 + 231 * D);
    let mut events = Vec::new();
    let mut t = Y2024;
    while t < Y2024 + 365 * D {
        let c = civil(t, &tz);
        let hour = c.hours.rem_euclid(24);
        let weekday = c.days.rem_euclid(7); // 0 = Thursday (1970-01-01)
        let weekend = weekday == 2 || weekday == 3; // Saturday, Sunday
        let awake = !weekend && (8..18).contains(&hour) && !(holiday.0..holiday.1).contains(&t);
        if awake {
            events.push(Event {
                true_t: t,
                clock_t: t,
                written: background(&mut rng),
            });
        }
        t += 15 * 60;
    }
    Scenario {
        name: "laptop",
        description: "a laptop: 15-min snapshots on weekdays 08-18, asleep nights, weekends and 3 weeks in August",
        tz,
        events,
        bursts: Vec::new(),
    }
}

/// Snapshots every 15 minutes through both 2024 DST changes in Berlin.
pub fn dst() -> Scenario {
    let mut rng = Rng::new(3);
    let start = Y2024 + 31 * D; // 2024-02-01
    let end = Y2024 + 335 * D; // 2024-12-01
    let events = (0..(end - start) / 900)
        .map(|k| {
            let t = start + k * 900;
            Event {
                true_t: t,
                clock_t: t,
                written: background(&mut rng),
            }
        })
        .collect();
    Scenario {
        name: "dst",
        description: "15-min snapshots Feb-Nov 2024 in Europe/Berlin (spring forward, fall back)",
        tz: berlin(),
        events,
        bursts: Vec::new(),
    }
}

/// Hourly for 90 days; on day 30 the clock jumps back an hour (and stays behind); on day 60
/// it jumps forward a day for 12 hours until NTP puts it right.
pub fn clock() -> Scenario {
    let mut rng = Rng::new(4);
    let events = (0..90 * 24)
        .map(|k| {
            let t = Y2024 + k * H + 17 * 60;
            let skew = if (Y2024 + 60 * D..Y2024 + 60 * D + 12 * H).contains(&t) {
                D - H
            } else if (Y2024 + 30 * D..Y2024 + 60 * D).contains(&t) {
                -H
            } else {
                0
            };
            Event {
                true_t: t,
                clock_t: t + skew,
                written: background(&mut rng),
            }
        })
        .collect();
    Scenario {
        name: "clock",
        description: "hourly for 90 days; clock 1 h back from day 30, 1 day ahead for 12 h on day 60",
        tz: berlin(),
        events,
        bursts: Vec::new(),
    }
}

/// 15-minute snapshots for 120 days; edits come in 0-3 sessions a day of 20-120 minutes.
pub fn bursts() -> Scenario {
    let mut rng = Rng::new(5);
    let start = Y2024 + 60 * D;
    let days = 120;
    let mut sessions: Vec<(i64, i64)> = Vec::new();
    for d in 0..days {
        let n = rng.range(0, 4);
        let mut starts: Vec<i64> = (0..n)
            .map(|_| start + d * D + 7 * H + rng.range(0, 14 * 3600) as i64)
            .collect();
        starts.sort_unstable();
        for s in starts {
            let len = rng.range(20 * 60, 120 * 60) as i64;
            if let Some(last) = sessions.last_mut()
                && s <= last.1
            {
                last.1 = last.1.max(s + len);
                continue;
            }
            sessions.push((s, s + len));
        }
    }
    let mut events = Vec::new();
    let mut prev = start;
    for k in 0..days * 96 {
        let t = start + k * 900;
        // Bytes written in (prev, t]: 64 KiB per edited minute.
        let edited: i64 = sessions
            .iter()
            .map(|&(a, b)| (b.min(t) - a.max(prev)).max(0))
            .sum();
        events.push(Event {
            true_t: t,
            clock_t: t,
            written: (edited as u64 / 60) * 64 * 1024,
        });
        prev = t;
    }
    Scenario {
        name: "bursts",
        description: "15-min snapshots for 120 days; edits in 0-3 sessions a day (the rest is quiet)",
        tz: berlin(),
        events,
        bursts: sessions,
    }
}
