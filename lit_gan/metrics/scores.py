"""Inception Score and Kernel Inception Distance on torchmetrics' states, made safe for DDP.

torchmetrics' ``InceptionScore`` and ``KernelInceptionDistance`` keep every feature in list
states with ``dist_reduce_fx=None``, which DDP gathers element by element: ranks that made a
different number of ``update`` calls then wait on each other forever, and the gathered features
come interleaved across ranks. Their ``compute`` draws splits and subsets from the global random
generator, so every rank reports a different value. Here the states are reduced with ``"cat"``
(one gather per state, rank 0's features first, any number of updates per rank), and the random
splits and subsets come from a generator seeded with ``seed``: every rank computes the same value,
and one process computes what several do on the same samples. Both keep every feature (N x d
floats), as torchmetrics' do.
"""

import warnings
from numbers import Integral
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics.image.inception import InceptionScore as _InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance, poly_mmd
from torchmetrics.utilities.data import dim_zero_cat

_KEEPS_FEATURES = "Metric .* will save all extracted features"
Draws = Literal["torch-fidelity", "torch"]
DRAWS = ("torch-fidelity", "torch")
TORCH_FIDELITY_SEED = 2020  # torch-fidelity's default rng_seed
MAX_SEED = 2**32 - 1  # np.random.RandomState's, which torch-fidelity's draws use


def check_draws(draws: str) -> None:
    if draws not in DRAWS:
        raise ValueError(f"Expected argument `draws` to be one of {', '.join(DRAWS)}, got {draws!r}")


def check_seeds(**values: object) -> None:
    """Refuse the first argument that is not an integer in [0, 2**32 - 1], a seed of the IS and KID draws."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= MAX_SEED:
            raise ValueError(f"Expected argument `{name}` to be an integer in [0, 2**32 - 1], got {value!r}")


class InceptionScore(_InceptionScore):
    r"""Inception Score (Salimans et al. 2016): sharpness and diversity of the predicted classes.

    .. math::
        IS = \exp\big(\mathbb{E}_x\, KL(p(y \mid x) \,\|\, p(y))\big), \qquad p(y) = \mathbb{E}_x\, p(y \mid x)

    1 when every prediction is the same (uniform, say); the number of classes when predictions are
    one-hot and the classes balanced. The samples are shuffled (seeded) and cut into ``splits``
    parts; returns the mean and the (population, as the original code) standard deviation over them,
    float64. With ``draws="torch"``, terms with p(y|x) = 0 count 0 (0 log 0 = 0).

    Args:
        feature: an ``nn.Module`` mapping a batch to logits (N, K) (e.g. :class:`PrecomputedFeatures`),
            or torchmetrics' choices ("logits_unbiased", ...).
        splits: number of parts the samples are cut into.
        seed: seed of the shuffle.
        draws: "torch-fidelity" (its permutation and splits, its value) or "torch"; see the module.
        kwargs: the other arguments of torchmetrics' ``InceptionScore``.
    """

    def __init__(
        self, feature: Any = "logits_unbiased", splits: int = 10, seed: int = TORCH_FIDELITY_SEED,
        draws: Draws = "torch-fidelity", **kwargs: Any,
    ) -> None:
        if not (isinstance(splits, int) and splits > 0):
            raise ValueError(f"Expected argument `splits` to be an integer > 0, got {splits}")
        check_draws(draws)
        check_seeds(seed=seed)
        self.draws = draws
        with warnings.catch_warnings():  # that every feature is kept is the point, and said above
            warnings.filterwarnings("ignore", message=_KEEPS_FEATURES)
            super().__init__(feature=feature, splits=splits, **kwargs)
        self.seed = int(seed)
        self.add_state("features", [], dist_reduce_fx="cat")

    def compute(self) -> tuple[Tensor, Tensor]:
        logits = dim_zero_cat(self.features)  # (N, K)
        if logits.shape[0] < self.splits:
            raise RuntimeError(f"Expected at least `splits`={self.splits} samples for the Inception Score, got {logits.shape[0]}")
        if self.draws == "torch-fidelity":
            from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

            out = isc_features_to_metric(logits, self.splits, shuffle=True, rng_seed=self.seed)
            return tuple(torch.tensor(out[key], dtype=torch.float64) for key in (KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD))
        logits = logits.double()
        order = torch.randperm(logits.shape[0], generator=torch.Generator().manual_seed(self.seed))
        log_p = logits[order.to(logits.device)].log_softmax(dim=1)  # log p(y|x), (N, K)
        scores = []
        for part in log_p.tensor_split(self.splits):  # parts of sizes differing by at most 1
            p = part.exp()
            log_marginal = p.mean(dim=0).log()  # log p(y), (K,)
            kl = torch.where(p > 0, p * (part - log_marginal), 0.0).sum(dim=1)  # KL(p(y|x) || p(y)), (n,)
            scores.append(kl.mean().exp())
        scores_ = torch.stack(scores)
        return scores_.mean(), scores_.std(unbiased=False)


class KernelDistance(KernelInceptionDistance):
    r"""Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 with the cubic kernel.

    .. math::
        KID = MMD_u^2(f_r, f_g), \qquad k(x, y) = (x^\top y / d + 1)^3

    averaged over ``subsets`` random subsets of ``subset_size`` real and generated features each
    (seeded); returns the mean and standard deviation over the subsets. Unlike FID it is unbiased,
    so it can be compared across numbers of samples. ``reset_real_features=False`` keeps the real
    features across ``reset``.

    Args:
        feature: an ``nn.Module`` mapping a batch to features (N, d), or torchmetrics' choices.
        subsets: number of random subsets.
        subset_size: samples per subset; at most the number of real and of generated samples.
        seed: seed of the subsets.
        draws: "torch-fidelity" (its subsets and float32 kernel sums, its value) or "torch"; see the module.
        cap_subset_size: take subsets of min(``subset_size``, real samples, generated samples) at
            ``compute`` (over all processes), instead of refusing fewer samples than ``subset_size``.
        kwargs: the other arguments of torchmetrics' ``KernelInceptionDistance``.
    """

    def __init__(
        self, feature: Any = 2048, subsets: int = 100, subset_size: int = 1000, seed: int = TORCH_FIDELITY_SEED,
        cap_subset_size: bool = False, draws: Draws = "torch-fidelity", **kwargs: Any,
    ) -> None:
        check_draws(draws)
        check_seeds(seed=seed)
        self.draws = draws
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_KEEPS_FEATURES)
            super().__init__(feature=feature, subsets=subsets, subset_size=subset_size, **kwargs)
        self.seed, self.cap_subset_size = int(seed), bool(cap_subset_size)
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def compute(self) -> tuple[Tensor, Tensor]:
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)  # (N_r, d), (N_g, d)
        fewest = min(real.shape[0], fake.shape[0])
        size = min(self.subset_size, fewest) if self.cap_subset_size else self.subset_size
        if fewest < size:
            raise RuntimeError(
                f"Expected `subset_size`={self.subset_size} to be at most the number of real ({real.shape[0]}) and"
                f" generated ({fake.shape[0]}) samples"
            )
        if self.draws == "torch-fidelity":
            from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

            out = kid_features_to_metric(
                fake, real, kid_subsets=self.subsets, kid_subset_size=size, rng_seed=self.seed, verbose=False,
                kid_kernel="poly", kid_kernel_poly_degree=self.degree, kid_kernel_poly_gamma=self.gamma,
                kid_kernel_poly_coef0=self.coef,
            )  # input1 = generated, input2 = real, as calculate_metrics(input1=generated, input2=real)
            return tuple(torch.tensor(out[key], dtype=torch.float64) for key in (KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD))
        rng = torch.Generator().manual_seed(self.seed)
        scores = []
        for _ in range(self.subsets):
            r = real[torch.randperm(real.shape[0], generator=rng)[:size].to(real.device)]  # (size, d)
            f = fake[torch.randperm(fake.shape[0], generator=rng)[:size].to(fake.device)]
            scores.append(poly_mmd(r, f, self.degree, self.gamma, self.coef))
        scores_ = torch.stack(scores)
        return scores_.mean(), scores_.std(unbiased=False)
