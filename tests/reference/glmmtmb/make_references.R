# References for lmerpy's structured random-effect term types, from glmmTMB (REML = TRUE).
# Run from the repository root: Rscript tests/reference/glmmtmb/make_references.R
# Writes tests/reference/glmmtmb/{ar1_sim.csv, cs_sim.csv, references.json}.
suppressMessages({library(glmmTMB); library(lme4); library(jsonlite)})
out_dir <- "tests/reference/glmmtmb"

# AR(1) data: 60 groups x 10 times, rho = 0.7, sd 1, residual sd 0.5, plus a group slope-free mean
set.seed(20261126)
ng <- 60; nt <- 10; rho <- 0.7
ar1 <- do.call(rbind, lapply(seq_len(ng), function(i) {
  e <- numeric(nt); e[1] <- rnorm(1)
  for (t in 2:nt) e[t] <- rho * e[t - 1] + sqrt(1 - rho^2) * rnorm(1)
  d <- data.frame(g = sprintf("g%02d", i), time = seq_len(nt), x = rnorm(nt))
  transform(d, y = 1 + 0.5 * x + e + rnorm(nt, sd = 0.5))
}))
write.csv(ar1, file.path(out_dir, "ar1_sim.csv"), row.names = FALSE)

# Compound-symmetry data: 40 groups x 4 conditions, heterogeneous sds, rho = 0.4
set.seed(11262026)
sds <- c(1, 1.5, 0.7, 1.2); R <- matrix(0.4, 4, 4); diag(R) <- 1
S <- diag(sds) %*% R %*% diag(sds); C <- chol(S)
cs <- do.call(rbind, lapply(seq_len(40), function(i) {
  b <- as.vector(rnorm(4) %*% C)
  do.call(rbind, lapply(1:3, function(r) data.frame(g = sprintf("s%02d", i), cond = c("a", "b", "c", "d"),
                                                    y = 2 + b + rnorm(4, sd = 0.6))))
}))
write.csv(cs, file.path(out_dir, "cs_sim.csv"), row.names = FALSE)

sleep <- read.csv("/work/shared/reference/data/sleepstudy.csv"); sleep$Subject <- factor(sleep$Subject)
ar1$g <- factor(ar1$g); ar1$ftime <- factor(ar1$time)
cs$g <- factor(cs$g); cs$cond <- factor(cs$cond)

vc_parts <- function(m, grp) {
  v <- VarCorr(m)$cond[[grp]]
  list(sd = unname(attr(v, "stddev")), corr = unname(attr(v, "correlation")[lower.tri(attr(v, "correlation"))]))
}
fit <- function(id, formula, data, grp, lmerpy_formula, data_name) {
  m <- glmmTMB(as.formula(formula), data = data, REML = TRUE)
  p <- vc_parts(m, grp)
  list(id = id, call = sprintf("glmmTMB(%s, data = %s, REML = TRUE)", formula, data_name),
       lmerpy_formula = lmerpy_formula, data = data_name, logLik = as.numeric(logLik(m)),
       sd = p$sd, corr = p$corr, sigma = sigma(m), fixef = as.list(fixef(m)$cond))
}
refs <- list(
  fit("sleepstudy_diag", "Reaction ~ Days + diag(Days | Subject)", sleep, "Subject",
      "Reaction ~ Days + diag(Days | Subject)", "sleepstudy"),
  fit("ar1_sim", "y ~ x + ar1(0 + ftime | g)", ar1, "g",
      "y ~ x + ar1(0 + factor(time) | g)", "ar1_sim"),
  fit("cs_sim", "y ~ 1 + cs(0 + cond | g)", cs, "g", "y ~ 1 + cs(0 + cond | g)", "cs_sim"),
  fit("sleepstudy_us", "Reaction ~ Days + us(Days | Subject)", sleep, "Subject",
      "Reaction ~ Days + us(Days | Subject)", "sleepstudy"),
  fit("orthodont_diag", "distance ~ age + Sex + diag(age | Subject)",
      transform(read.csv("/work/shared/reference/data/orthodont.csv"), Subject = factor(Subject), Sex = factor(Sex, levels = c("Male", "Female"))),
      "Subject", "distance ~ age + Sex + diag(age | Subject)", "orthodont")
)
# lme4's REML criterion for the same likelihood scale check: (1 | Subject) both ways
m_lme4 <- lmer(Reaction ~ Days + (1 | Subject), sleep)
m_tmb <- glmmTMB(Reaction ~ Days + (1 | Subject), sleep, REML = TRUE)
scale_check <- list(lme4_REMLcrit = REMLcrit(m_lme4), glmmTMB_minus2logLik = -2 * as.numeric(logLik(m_tmb)))
write_json(list(models = refs, scale_check = scale_check), file.path(out_dir, "references.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
