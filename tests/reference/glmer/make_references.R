# lme4 1.1-31 glmer fits the tests compare against (tests/test_glmer.py).
# Run from the repository root: Rscript tests/reference/glmer/make_references.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
out <- list()
grab <- function(m, call) {
  s <- summary(m)
  list(
    call = call,
    fixef = as.list(fixef(m)),
    se = as.list(sqrt(diag(as.matrix(vcov(m))))),
    se_rx = as.list(sqrt(diag(as.matrix(vcov(m, use.hessian = FALSE))))),
    theta = unname(getME(m, "theta")),
    logLik = as.numeric(logLik(m)),
    deviance = deviance(m),
    AIC = AIC(m), BIC = BIC(m), df_resid = df.residual(m),
    ranef = lapply(ranef(m), function(r) as.list(r[[1]])),
    fitted = unname(fitted(m))
  )
}
cbpp$obs <- factor(seq_len(nrow(cbpp)))
f_cbpp <- cbind(incidence, size - incidence) ~ period + (1 | herd)
out$cbpp_nagq0 <- grab(glmer(f_cbpp, cbpp, binomial, nAGQ = 0),
  "glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, nAGQ = 0)")
out$cbpp_probit <- grab(glmer(f_cbpp, cbpp, binomial(link = "probit")),
  "glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial(link = 'probit'))")
out$cbpp_cloglog <- grab(glmer(f_cbpp, cbpp, binomial(link = "cloglog")),
  "glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial(link = 'cloglog'))")
# Poisson counts with an exposure offset: incidence per animal
out$cbpp_poisson_offset <- grab(
  glmer(incidence ~ period + offset(log(size)) + (1 | herd), cbpp, poisson),
  "glmer(incidence ~ period + offset(log(size)) + (1 | herd), cbpp, poisson)")
# Bernoulli rows: each animal of cbpp as a 0/1 row
rows <- do.call(rbind, lapply(seq_len(nrow(cbpp)), function(i) {
  r <- cbpp[i, ]
  data.frame(herd = r$herd, period = r$period,
             y = c(rep(1, r$incidence), rep(0, r$size - r$incidence)))
}))
out$cbpp_bernoulli <- grab(glmer(y ~ period + (1 | herd), rows, binomial),
  "glmer(y ~ period + (1 | herd), <cbpp expanded to one 0/1 row per animal>, binomial)")
# A random slope: a vector-valued random-effects term
grouseticks$HEIGHT_s <- as.numeric(scale(grouseticks$HEIGHT))
out$grouseticks_slope <- grab(
  glmer(TICKS ~ YEAR + HEIGHT_s + (1 + HEIGHT_s | LOCATION) + (1 | INDEX), grouseticks, poisson),
  "glmer(TICKS ~ YEAR + HEIGHT_s + (1 + HEIGHT_s | LOCATION) + (1 | INDEX), grouseticks, poisson), HEIGHT_s = as.numeric(scale(HEIGHT))")
# VerbAgg (lme4), the benchmark model
data(VerbAgg)
m_va <- glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), VerbAgg, binomial)
out$verbagg <- grab(m_va,
  "glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), VerbAgg, binomial)")
out$verbagg$fitted <- NULL
out$verbagg$ranef <- NULL
# Profile intervals (confint(m, oldNames = FALSE)), with their R calls
m_cbpp <- glmer(f_cbpp, cbpp, binomial)
ci <- confint(m_cbpp, oldNames = FALSE)
out$cbpp_profile <- list(
  call = "confint(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial), oldNames = FALSE)",
  names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
ci <- confint(m_cbpp, method = "Wald", oldNames = FALSE)
out$cbpp_wald <- list(
  call = "confint(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial), method = 'Wald', oldNames = FALSE)",
  names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
# Likelihood-ratio test between nested fits
m0 <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp, binomial)
a <- anova(m0, m_cbpp)
out$cbpp_anova <- list(
  call = "anova(glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp, binomial), <cbpp fit>)",
  npar = a$npar, AIC = a$AIC, BIC = a$BIC, logLik = a$logLik, deviance = a$deviance,
  Chisq = a$Chisq, Df = a$Df, p = a[["Pr(>Chisq)"]])
# Families: R's binomial(link) and poisson() at moderate values
eta <- c(-3, -0.5, 0, 0.7, 2.5)
fam_values <- function(f, y, w) {
  mu <- f$linkinv(eta)
  list(family = f$family, link = f$link, eta = eta, mu = mu, mu_eta = f$mu.eta(eta),
       variance = f$variance(mu), dev_resids = f$dev.resids(y, mu, w),
       aic = f$aic(y, rep(1, 5), mu, w, sum(f$dev.resids(y, mu, w))))
}
y01 <- c(0, 1, 1, 0, 1)
out$families <- list(
  call = "binomial(link)$linkinv(eta), $mu.eta, $variance, $dev.resids(y, mu, w), $aic(y, n = 1, mu, w, dev); poisson() likewise",
  logit = fam_values(binomial("logit"), y01, rep(1, 5)),
  probit = fam_values(binomial("probit"), y01, rep(1, 5)),
  cloglog = fam_values(binomial("cloglog"), y01, rep(1, 5)),
  proportion = fam_values(binomial("logit"), c(0.25, 0.5, 1, 0, 0.75), c(4, 2, 3, 5, 4)),
  poisson = fam_values(poisson(), c(0, 2, 1, 5, 11), c(1, 1, 2, 1, 0.5)))
out$lme4_version <- as.character(packageVersion("lme4"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/glmer/references.json")
write.csv(VerbAgg[, c("Anger", "Gender", "item", "resp", "id", "btype", "situ", "mode", "r2")],
          gzfile("src/lmerpy/datasets/verbagg.csv.gz"), row.names = FALSE)
