## Profile intervals of the fixed effects of the weighted cbpp model, computed the direct way:
## hold one coefficient at a value (moved into the offset), refit by ML, and solve
## signed sqrt(deviance change) = +-qnorm(0.975) with uniroot.
## lme4 1.1-31's profile() gets these wrong with prior weights ("non-monotonic profile",
## lme4 issue #192), so tests/reference/cbpp_weighted.json's confint_profile holds
## intervals ~40 times narrower than the Wald ones for the fixed effects.
## Run from this directory: Rscript cbpp_weighted_fixed.R
suppressMessages({library(lme4); library(jsonlite)})
cbpp$prop <- cbpp$incidence / cbpp$size
m <- lmer(prop ~ period + (1 | herd), cbpp, weights = size, REML = FALSE,
          control = lmerControl(optCtrl = list(xtol_abs = 1e-10, ftol_abs = 1e-12)))
X <- model.matrix(m)
beta <- fixef(m); se <- sqrt(diag(as.matrix(vcov(m)))); z <- qnorm(0.975)
zeta <- function(j, value) {
  d <- data.frame(prop = cbpp$prop, herd = cbpp$herd, size = cbpp$size,
                  off = value * X[, j])
  rest <- X[, -j, drop = FALSE]
  d$rest <- rest
  m1 <- lmer(prop ~ 0 + rest + (1 | herd), d, weights = size, REML = FALSE, offset = off,
             control = lmerControl(optCtrl = list(xtol_abs = 1e-10, ftol_abs = 1e-12)))
  sign(value - beta[j]) * sqrt(max(deviance(m1) - deviance(m), 0))
}
limit <- function(j, target) {
  far <- beta[j] + sign(target) * 4 * se[j]
  uniroot(function(v) zeta(j, v) - target, sort(c(beta[j], far)), tol = 1e-9)$root
}
out <- list(
  formula = "prop ~ period + (1 | herd)", data = "cbpp", weights = "size",
  method = "ML refits with the coefficient in the offset; uniroot on zeta = -+qnorm(0.975)",
  names = names(beta),
  lower = unname(sapply(seq_along(beta), limit, target = -z)),
  upper = unname(sapply(seq_along(beta), limit, target = z)),
  lme4 = as.character(packageVersion("lme4"))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "cbpp_weighted_fixed.json")
