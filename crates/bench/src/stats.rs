//! Order statistics of the measured samples.

/// The `p`-quantile (0.0–1.0) of already sorted samples, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The samples in ascending order (NaNs last).
pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The largest sample of sorted samples; NaN when empty.
pub fn max(sorted: &[f64]) -> f64 {
    sorted.last().copied().unwrap_or(f64::NAN)
}

/// The upper median (element `len / 2` after sorting); NaN when empty.
pub fn median(v: Vec<f64>) -> f64 {
    let v = sorted(v);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A distribution-free 95 % confidence interval of the median of sorted
/// samples: the order statistics `k` and `n + 1 - k` (1-based) with `k` from
/// the normal approximation of the binomial, `(n - 1.96 √n) / 2`. `None`
/// below 6 samples, where no such interval reaches 95 %.
pub fn median_ci95(sorted: &[f64]) -> Option<(f64, f64)> {
    let n = sorted.len();
    if n < 6 {
        return None;
    }
    let k = (((n as f64) - 1.96 * (n as f64).sqrt()) / 2.0).floor().max(1.0) as usize;
    Some((sorted[k - 1], sorted[n - k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_small_samples() {
        let v = sorted(vec![3.0, 1.0, 2.0, 4.0]);
        assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 0.99), 4.0);
        assert_eq!(max(&v), 4.0);
        assert_eq!(median(vec![5.0, 1.0, 3.0]), 3.0);
        assert!(percentile(&[], 0.5).is_nan());
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn the_median_interval_widens_with_fewer_samples() {
        assert_eq!(median_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        let v: Vec<f64> = (1..=21).map(f64::from).collect();
        // n = 21: k = floor((21 - 8.98) / 2) = 6, so the 6th and the 16th.
        assert_eq!(median_ci95(&v), Some((6.0, 16.0)));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(median_ci95(&v), Some((40.0, 61.0)));
    }
}
