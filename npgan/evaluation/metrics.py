"""Sample quality: 1-D against an exact normal (KS, Wasserstein-1); 2-D mixtures (mode coverage);
feature statistics for images (Frechet distance, class histograms).

The 2-D mixture metrics are in :func:`mode_coverage`; the image metrics in
:func:`gaussian_statistics`, :func:`frechet_distance` and
:func:`class_histogram_metrics` (used by :mod:`npgan.scoring`).

Everything here runs on host (numpy) arrays: pass ``tensor.numpy()``.

With Phi the standard normal cdf, phi its density, z = (x - mean) / std::

    normal_cdf(x)  = Phi(z) = erfc(-z / sqrt 2) / 2        (erfc: no cancellation in the left tail)
    normal_ppf(p)  = the x with normal_cdf(x) = p           (bisection on normal_cdf)

For a sample with order statistics x_(1) <= ... <= x_(n) and empirical cdf
F_n (a step function that jumps by 1/n at each x_(i)):

    KS  = sup_x |F_n(x) - F(x)|
        = max_i max( i/n - F(x_(i)),  F(x_(i)) - (i-1)/n )

(the supremum is reached at a jump, from one side or the other), and

    W1  = integral over the real line of |F_n(x) - Phi((x - mean) / std)| dx
        = std * integral |F_n - Phi|(z) dz       (in standard units z)

computed in closed form: F_n is a constant c on each gap [a, b] between
consecutive samples (c = 0 left of x_(1), c = 1 right of x_(n)), and Phi has
the antiderivative  Psi(z) = z Phi(z) + phi(z),  so on a gap where c - Phi
keeps its sign

    integral_a^b (c - Phi) dz = c (b - a) - (Psi(b) - Psi(a)),

and where it changes sign (at z* = Phi^-1(c), inside the gap) the two parts
are added with their signs; since c z* - Psi(z*) = -phi(z*) only phi(z*) is
needed there. The two infinite tails are

    integral_-inf^a Phi dz = Psi(a),     integral_b^inf (1 - Phi) dz = phi(b) - b (1 - Phi(b)).

No quadrature error: W1 is exact up to float64 rounding.
"""
import math

import numpy as np  # host-only: metrics run on host copies of the samples

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# math.erfc applied elementwise: full double precision (numpy has no erf),
# about 0.1 microsecond per element, so 10,000 points cost about a millisecond.
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _as_float64(x):
    return np.asarray(x, dtype=np.float64)


def _check_std(std, name):
    if not std > 0:
        raise ValueError(f"{name}: std must be > 0, got {std!r}")


def std_normal_cdf(z):
    """Phi(z) = erfc(-z / sqrt 2) / 2 for a float or array, in float64."""
    z = _as_float64(z)
    return 0.5 * np.asarray(_erfc(-z / _SQRT2), dtype=np.float64)


def std_normal_pdf(z):
    """phi(z) = exp(-z^2 / 2) / sqrt(2 pi)."""
    z = _as_float64(z)
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def normal_cdf(x, mean=0.0, std=1.0):
    """The cdf of N(mean, std^2) at ``x`` (float or array), accurate to ~1e-16."""
    _check_std(std, "normal_cdf")
    return std_normal_cdf((_as_float64(x) - mean) / std)


def normal_pdf(x, mean=0.0, std=1.0):
    """The density of N(mean, std^2) at ``x``."""
    _check_std(std, "normal_pdf")
    return std_normal_pdf((_as_float64(x) - mean) / std) / std


def _std_normal_ppf(p, lo=None, hi=None):
    """Phi^-1(p) by bisection on std_normal_cdf, optionally within a known bracket [lo, hi].

    80 halvings shrink a bracket of width <= 80 below 1e-22: float64 exact.
    """
    p = _as_float64(p)
    lo = np.full(p.shape, -40.0) if lo is None else np.array(lo, dtype=np.float64)
    hi = np.full(p.shape, 40.0) if hi is None else np.array(hi, dtype=np.float64)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        below = std_normal_cdf(mid) < p
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
        if np.all(hi - lo <= 1e-15 * np.maximum(1.0, np.abs(lo))):
            break
    return 0.5 * (lo + hi)


def normal_ppf(p, mean=0.0, std=1.0):
    """The quantile function of N(mean, std^2): the x with normal_cdf(x) = p, for p in (0, 1)."""
    _check_std(std, "normal_ppf")
    p = _as_float64(p)
    if np.any((p <= 0) | (p >= 1)) or np.any(np.isnan(p)):
        raise ValueError("normal_ppf: p must lie strictly between 0 and 1")
    return mean + std * _std_normal_ppf(p)


def _sorted_samples(samples, name):
    x = _as_float64(samples).ravel()
    if x.size == 0:
        raise ValueError(f"{name}: got no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: samples must be finite (got NaN or inf)")
    return np.sort(x)


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov distance sup_x |F_n(x) - cdf(x)| of a 1-D sample to a continuous cdf.

    ``cdf`` maps an array to an array, e.g. ``lambda x: normal_cdf(x, 4, 1.25)``.
    Exact: evaluated on both sides of every jump of the empirical cdf.
    """
    x = _sorted_samples(samples, "ks_statistic")
    n = x.size
    f = _as_float64(cdf(x))
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def _psi(z, cdf_z, pdf_z):
    """An antiderivative of Phi: z Phi(z) + phi(z)."""
    return z * cdf_z + pdf_z


def wasserstein1_normal(samples, mean, std):
    """Wasserstein-1 distance between the empirical distribution of ``samples`` and N(mean, std^2).

    W1 = integral |F_n(x) - Phi((x - mean) / std)| dx, in closed form (see the module docstring).
    """
    _check_std(std, "wasserstein1_normal")
    z = (_sorted_samples(samples, "wasserstein1_normal") - mean) / std
    n = z.size
    cdf, pdf = std_normal_cdf(z), std_normal_pdf(z)
    psi = _psi(z, cdf, pdf)
    # the two infinite tails: F_n = 0 left of z_(1), F_n = 1 right of z_(n)
    total = psi[0] + (pdf[-1] - z[-1] * (1.0 - cdf[-1]))
    if n > 1:
        a, b = z[:-1], z[1:]
        c = np.arange(1, n, dtype=np.float64) / n      # F_n on [z_(i), z_(i+1))
        ha, hb = c - cdf[:-1], c - cdf[1:]              # c - Phi at both ends; ha >= hb
        signed = c * (b - a) - (psi[1:] - psi[:-1])     # integral of (c - Phi) over the gap
        cross = (ha > 0) & (hb < 0)
        gaps = np.abs(signed)
        if np.any(cross):
            ia = np.nonzero(cross)[0]
            zstar = _std_normal_ppf(c[ia], a[ia], b[ia])
            h_star = -std_normal_pdf(zstar)              # c z* - Psi(z*) = -phi(z*)
            h_a = c[ia] * a[ia] - psi[:-1][ia]
            h_b = c[ia] * b[ia] - psi[1:][ia]
            gaps[ia] = (h_star - h_a) + (h_star - h_b)   # positive part then negative part
        total += gaps.sum()
    return float(std * total)


def sample_summary(samples, mean, std):
    """mean, std (ddof=0), W1 and KS of ``samples`` against N(mean, std^2), as a dict of floats."""
    x = _as_float64(samples).ravel()
    return {
        "mean": float(x.mean()),
        "std": float(x.std()),
        "w1": wasserstein1_normal(x, mean, std),
        "ks": ks_statistic(x, lambda v: normal_cdf(v, mean, std)),
    }


# --- mixtures of Gaussians: modes covered, high-quality samples, reverse KL ----

def mode_coverage(samples, centres, sigma, threshold=3.0):
    """Mode-collapse metrics of 2-D (or d-D) samples against a mixture of K equal Gaussians.

    As in VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018):

    * each sample is assigned to its nearest centre mu_k (Euclidean distance d);
    * it is *high quality* (HQ) when d <= threshold * sigma (default 3 sigma);
    * mode k is *covered* when at least one HQ sample is nearest to it;
    * with q_k the fraction of the HQ samples nearest to mode k, the reverse KL
      against the uniform target p_k = 1/K is  KL(q || p) = sum_{q_k > 0} q_k log(K q_k):
      0 when the HQ samples split evenly, log K when all lie on one mode.

    The histogram here is over the high-quality samples only (our choice:
    low-quality points between modes are not counted towards any mode);
    with no HQ sample the KL is ``inf``.

    Args:
        samples: (n, d) host array of generated points (``tensor.numpy()``).
        centres: (K, d) array of mode centres (``npgan.datasets.mode_centres``).
        sigma: the standard deviation of each mode (> 0).
        threshold: HQ radius in units of sigma (> 0).

    Returns a dict: ``modes`` (int, modes covered), ``hq`` (percent of samples that
    are HQ, in [0, 100]), ``reverse_kl`` (float), ``counts`` (HQ samples per mode, a list).
    """
    if not sigma > 0:
        raise ValueError(f"mode_coverage: sigma must be > 0, got {sigma!r}")
    if not threshold > 0:
        raise ValueError(f"mode_coverage: threshold must be > 0, got {threshold!r}")
    x = _as_float64(samples)
    mu = _as_float64(centres)
    if x.ndim != 2 or mu.ndim != 2 or x.shape[1] != mu.shape[1]:
        raise ValueError(f"mode_coverage: samples (n, d) and centres (K, d) must be 2-D with the "
                         f"same d, got shapes {x.shape} and {mu.shape}")
    if x.shape[0] == 0 or mu.shape[0] == 0:
        raise ValueError("mode_coverage: need at least one sample and one centre")
    if not np.all(np.isfinite(x)):
        raise ValueError("mode_coverage: samples must be finite (got NaN or inf)")
    k = mu.shape[0]
    d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2)    # (n, K) squared distances
    nearest = np.argmin(d2, axis=1)
    dist = np.sqrt(d2[np.arange(x.shape[0]), nearest])
    hq = dist <= threshold * sigma
    counts = np.bincount(nearest[hq], minlength=k)
    n_hq = int(counts.sum())
    if n_hq:
        q = counts[counts > 0] / n_hq
        reverse_kl = float(np.sum(q * np.log(k * q)))
    else:
        reverse_kl = math.inf
    return {"modes": int(np.count_nonzero(counts)),
            "hq": 100.0 * n_hq / x.shape[0],
            "reverse_kl": reverse_kl,
            "counts": [int(c) for c in counts]}


# --- feature statistics: Frechet distance and class histograms -----------------

def gaussian_statistics(features):
    """The mean and unbiased covariance of (N, d) features, as float64 host arrays.

        mu    = (1/N) sum_n f_n
        Sigma = (1/(N-1)) sum_n (f_n - mu)(f_n - mu)^T      (N - 1: unbiased)

    Returns ``(mu, sigma)`` of shapes (d,) and (d, d). Needs N >= 2 finite rows.
    """
    f = _as_float64(features)
    if f.ndim != 2:
        raise ValueError(f"gaussian_statistics: features must be 2-D (N, d), got shape {f.shape}")
    if f.shape[0] < 2:
        raise ValueError(
            f"gaussian_statistics: need at least 2 samples for a covariance, got {f.shape[0]}")
    if not np.all(np.isfinite(f)):
        raise ValueError("gaussian_statistics: features must be finite (got NaN or inf)")
    mu = f.mean(axis=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)
    return mu, sigma


def _psd_sqrt(sigma):
    """The symmetric square root V diag(sqrt(max(w, 0))) V^T of a symmetric PSD matrix."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """The Frechet (Wasserstein-2 squared) distance between N(mu1, S1) and N(mu2, S2):

        d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)

    (Dowson & Landau, 1982, "The Frechet distance between multivariate normal
    distributions"; used on Inception features as the FID by Heusel et al.,
    2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
    Nash Equilibrium"). Tr (S1^1/2 S2 S1^1/2)^1/2 equals the Tr (S1 S2)^1/2
    of the usual statement, since S1 S2 is similar to S1^1/2 S2 S1^1/2.

    Computed without scipy, with symmetric eigen-decompositions only:

    1. S1 = V diag(w) V^T, so S1^1/2 = V diag(sqrt(w)) V^T (eigenvalues below 0,
       which only rounding produces in a covariance, are clipped to 0);
    2. M = S1^1/2 S2 S1^1/2 is symmetric PSD, so Tr M^1/2 = sum_k sqrt(lambda_k(M)),
       again with rounding-negative eigenvalues clipped to 0.

    The true distance is >= 0; a tiny negative total (rounding, e.g. for equal
    Gaussians) is returned as 0.0.

    Args:
        mu1, mu2: mean vectors of shape (d,).
        sigma1, sigma2: symmetric PSD covariance matrices of shape (d, d).

    Returns a Python float.
    """
    mu1, mu2 = _as_float64(mu1), _as_float64(mu2)
    s1, s2 = _as_float64(sigma1), _as_float64(sigma2)
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"frechet_distance: means must be vectors of the same length, got "
                         f"shapes {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (d, d):
            raise ValueError(f"frechet_distance: {name} must have shape ({d}, {d}) to match "
                             f"the means, got {s.shape}")
    for name, a in (("mu1", mu1), ("sigma1", s1), ("mu2", mu2), ("sigma2", s2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"frechet_distance: {name} must be finite (got NaN or inf)")
    s1 = 0.5 * (s1 + s1.T)  # exactly symmetric, as eigh assumes
    s2 = 0.5 * (s2 + s2.T)
    root1 = _psd_sqrt(s1)
    m = root1 @ s2 @ root1
    m = 0.5 * (m + m.T)
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(m), 0.0, None)).sum())
    diff = mu1 - mu2
    total = float(diff @ diff) + float(np.trace(s1) + np.trace(s2)) - 2.0 * trace_sqrt
    return max(total, 0.0)


def class_histogram_metrics(probs):
    """Class-coverage metrics of N samples from their (N, C) class probabilities.

    Each sample is assigned its most likely class argmax_c probs[n, c]. With
    p_hat_c the fraction of samples assigned to class c:

    * ``classes_covered``: the number of classes assigned to at least one sample;
    * ``class_fractions``: [p_hat_0, ..., p_hat_{C-1}] (a list of C floats, sum 1);
    * ``kl_from_uniform``: KL(p_hat || U) = sum_{c: p_hat_c > 0} p_hat_c log(p_hat_c C)
      = log C - H(p_hat), with H the entropy: 0 when the classes are balanced,
      log C when every sample falls in one class;
    * ``mean_top_confidence``: (1/N) sum_n max_c probs[n, c], how sure the
      classifier is on average (near 1 for clean digits, lower for ambiguous ones).

    ``probs`` must hold probabilities (rows in [0, 1] summing to 1, e.g. a
    softmax); pass a host array (``tensor.numpy()``).
    """
    p = _as_float64(probs)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"class_histogram_metrics: probs must be 2-D (N, C) with N, C >= 1, "
                         f"got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("class_histogram_metrics: probs must be finite (got NaN or inf)")
    if np.any(p < 0) or np.any(p > 1) or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-4):
        raise ValueError("class_histogram_metrics: probs must be probabilities (each row in "
                         "[0, 1], summing to 1); pass softmax(logits), not logits")
    n, c = p.shape
    counts = np.bincount(np.argmax(p, axis=1), minlength=c)
    fractions = counts / n
    q = fractions[fractions > 0]
    return {"classes_covered": int(np.count_nonzero(counts)),
            "class_fractions": [float(f) for f in fractions],
            "kl_from_uniform": float(np.sum(q * np.log(q * c))),
            "mean_top_confidence": float(p.max(axis=1).mean())}
