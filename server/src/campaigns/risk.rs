//! The risk score of a candidate listing: a weighted sum of its signals,
//! each first turned into a number between 0 and 1, so the score runs from
//! 0 to the sum of the weights (100 with the defaults). The weights are
//! configuration (`[risk_weights]`), documented field by field; the score
//! is stored in thousandths of a point so the assignment engine compares
//! integers, never floats.

use serde::{Deserialize, Serialize};

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A consumer complaint named the listing.
    Complaint,
    /// Public opinion: press, social media.
    PublicOpinion,
    /// A platform's data feed.
    PlatformFeed,
    /// The shop failed an earlier test.
    EarlierFailure,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Complaint => "complaint",
            Source::PublicOpinion => "public_opinion",
            Source::PlatformFeed => "platform_feed",
            Source::EarlierFailure => "earlier_failure",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Source::Complaint,
            Source::PublicOpinion,
            Source::PlatformFeed,
            Source::EarlierFailure,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// A marketing claim on the listing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    FlashSale,
    HotSeller,
    SuperLowPrice,
}

impl Claim {
    pub fn as_str(self) -> &'static str {
        match self {
            Claim::FlashSale => "flash_sale",
            Claim::HotSeller => "hot_seller",
            Claim::SuperLowPrice => "super_low_price",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Claim::FlashSale, Claim::HotSeller, Claim::SuperLowPrice]
            .into_iter()
            .find(|c| c.as_str() == value)
    }
}

/// The signals of one listing, as imported.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    /// (listed - normal) / normal: -0.4 is 40 % below the category's normal
    /// price. `None` when unknown.
    pub price_deviation: Option<f64>,
    pub complaints: u32,
    /// Share of bad ratings, 0 to 1. `None` when unknown.
    pub bad_rating_share: Option<f64>,
    pub sales_volume: u64,
    pub claims: Vec<Claim>,
    pub source: Source,
}

/// How much each signal weighs. A signal scaled to 0..1 times its weight is
/// its share of the score; the defaults add up to 100 for a listing that
/// hits every maximum (a source counts once, its own weight).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskWeights {
    /// A price below the category's normal price: 0 at the normal price, 1
    /// at `price_deviation_full` below it or more (prices above normal add
    /// nothing). Default 25.
    pub price_deviation: f64,
    /// How far below normal counts fully, as a fraction. Default 0.5.
    pub price_deviation_full: f64,
    /// Complaints: `complaints / complaints_full`, at most 1. Default 20.
    pub complaints: f64,
    /// Complaints that count fully. Default 20.
    pub complaints_full: u32,
    /// The share of bad ratings, 0 to 1 as given. Default 15.
    pub bad_ratings: f64,
    /// Sales volume on a log scale: log10(1 + sales) / log10(1 +
    /// `sales_volume_full`), at most 1 (many buyers exposed). Default 10.
    pub sales_volume: f64,
    /// Sales that count fully. Default 100000.
    pub sales_volume_full: u64,
    /// Each marketing claim present. Defaults 3, 3 and 4.
    pub flash_sale: f64,
    pub hot_seller: f64,
    pub super_low_price: f64,
    /// The candidate's source. Defaults: complaint 20, earlier failure 20,
    /// public opinion 10, platform feed 5.
    pub source_complaint: f64,
    pub source_earlier_failure: f64,
    pub source_public_opinion: f64,
    pub source_platform_feed: f64,
}

impl Default for RiskWeights {
    fn default() -> Self {
        Self {
            price_deviation: 25.0,
            price_deviation_full: 0.5,
            complaints: 20.0,
            complaints_full: 20,
            bad_ratings: 15.0,
            sales_volume: 10.0,
            sales_volume_full: 100_000,
            flash_sale: 3.0,
            hot_seller: 3.0,
            super_low_price: 4.0,
            source_complaint: 20.0,
            source_earlier_failure: 20.0,
            source_public_opinion: 10.0,
            source_platform_feed: 5.0,
        }
    }
}

/// The highest score the weights allow: scores are capped here when they
/// are stored in thousandths (`i64`), far below overflow.
const MAX_SCORE: f64 = 1_000_000.0;

impl RiskWeights {
    /// Every weight finite and not negative, every "full" above zero.
    pub fn check(&self) -> Result<(), String> {
        let weights = [
            ("price_deviation", self.price_deviation),
            ("complaints", self.complaints),
            ("bad_ratings", self.bad_ratings),
            ("sales_volume", self.sales_volume),
            ("flash_sale", self.flash_sale),
            ("hot_seller", self.hot_seller),
            ("super_low_price", self.super_low_price),
            ("source_complaint", self.source_complaint),
            ("source_earlier_failure", self.source_earlier_failure),
            ("source_public_opinion", self.source_public_opinion),
            ("source_platform_feed", self.source_platform_feed),
        ];
        for (name, w) in weights {
            if !w.is_finite() || !(0.0..=10_000.0).contains(&w) {
                return Err(format!("{name} must be a number from 0 to 10000"));
            }
        }
        if !(self.price_deviation_full.is_finite() && self.price_deviation_full > 0.0) {
            return Err("price_deviation_full must be above 0".into());
        }
        if self.complaints_full == 0 {
            return Err("complaints_full must be at least 1".into());
        }
        if self.sales_volume_full == 0 {
            return Err("sales_volume_full must be at least 1".into());
        }
        Ok(())
    }

    /// The score of `signals`, from 0 to the sum of the weights.
    pub fn score(&self, signals: &Signals) -> f64 {
        let below_normal = signals.price_deviation.map_or(0.0, |d| (-d).max(0.0));
        let price = (below_normal / self.price_deviation_full).min(1.0);
        let complaints = (f64::from(signals.complaints) / f64::from(self.complaints_full)).min(1.0);
        let bad = signals.bad_rating_share.map_or(0.0, |s| s.clamp(0.0, 1.0));
        // u64 -> f64 loses precision only above 2^53 sales, far past "full".
        #[allow(clippy::cast_precision_loss)]
        let sales = ((1.0 + signals.sales_volume as f64).log10()
            / (1.0 + self.sales_volume_full as f64).log10())
        .min(1.0);
        let mut claims = 0.0;
        let mut seen = signals.claims.clone();
        seen.sort();
        seen.dedup();
        for claim in seen {
            claims += match claim {
                Claim::FlashSale => self.flash_sale,
                Claim::HotSeller => self.hot_seller,
                Claim::SuperLowPrice => self.super_low_price,
            };
        }
        let source = match signals.source {
            Source::Complaint => self.source_complaint,
            Source::EarlierFailure => self.source_earlier_failure,
            Source::PublicOpinion => self.source_public_opinion,
            Source::PlatformFeed => self.source_platform_feed,
        };
        self.price_deviation * price
            + self.complaints * complaints
            + self.bad_ratings * bad
            + self.sales_volume * sales
            + claims
            + source
    }

    /// The score in thousandths of a point, as stored and compared.
    pub fn score_milli(&self, signals: &Signals) -> i64 {
        let score = self.score(signals).clamp(0.0, MAX_SCORE);
        // In range by the clamp; rounding to the nearest thousandth.
        #[allow(clippy::cast_possible_truncation)]
        let milli = (score * 1000.0).round() as i64;
        milli
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Signals {
        Signals {
            price_deviation: None,
            complaints: 0,
            bad_rating_share: None,
            sales_volume: 0,
            claims: vec![],
            source: Source::PlatformFeed,
        }
    }

    #[test]
    fn a_listing_that_hits_every_maximum_scores_the_sum_of_the_weights() {
        let w = RiskWeights::default();
        let worst = Signals {
            price_deviation: Some(-0.9),
            complaints: 500,
            bad_rating_share: Some(1.0),
            sales_volume: 10_000_000,
            claims: vec![
                Claim::FlashSale,
                Claim::HotSeller,
                Claim::SuperLowPrice,
                Claim::FlashSale,
            ],
            source: Source::Complaint,
        };
        assert_eq!(w.score_milli(&worst), 100_000);
        assert_eq!(
            w.score_milli(&quiet()),
            5_000,
            "a feed listing with no signal"
        );
    }

    #[test]
    fn each_signal_counts_by_its_weight() {
        let w = RiskWeights::default();
        let base = w.score(&quiet());
        let half_price = Signals {
            price_deviation: Some(-0.25),
            ..quiet()
        };
        assert!((w.score(&half_price) - base - 12.5).abs() < 1e-9);
        let pricier = Signals {
            price_deviation: Some(0.3),
            ..quiet()
        };
        assert!(
            (w.score(&pricier) - base).abs() < 1e-9,
            "a price above normal adds nothing"
        );
        let complained = Signals {
            complaints: 5,
            ..quiet()
        };
        assert!((w.score(&complained) - base - 5.0).abs() < 1e-9);
        let sold = Signals {
            sales_volume: 100_000,
            ..quiet()
        };
        assert!((w.score(&sold) - base - 10.0).abs() < 1e-9);
    }

    #[test]
    fn weights_are_checked() {
        let bad = RiskWeights {
            complaints: f64::NAN,
            ..RiskWeights::default()
        };
        assert!(bad.check().is_err());
        let bad = RiskWeights {
            complaints_full: 0,
            ..RiskWeights::default()
        };
        assert!(bad.check().is_err());
        assert!(RiskWeights::default().check().is_ok());
    }
}
