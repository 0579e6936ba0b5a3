## lme4 1.1-31 values for every cell of the tables printed in Kaplan (2010),
## "An Overview of Multilevel Regression" (chapters 1-4), on mlmRev's Exam data.
## The report's numbers came from the lme4 of 2010; tests/test_report.py compares lmerpy
## with the printed values (tables.json) and, where the printed value and lme4 1.1-31
## disagree beyond the printed rounding, with the values written here.
## Run from this directory: Rscript report_lme4.R   (writes report_lme4.json)
##
## Table 3.1: the Bryk & Raudenbush (1992, pp. 37-44) level-1 intervals, written here
## from the report's equations (3.2)-(3.16) for the model without level-2 predictors
## (W_j = I): once as eq. (3.16) has them, (I - Lambda_j) Var(gamma) (I - Lambda_j)',
## and once with (I - Delta_j) in place of (I - Lambda_j), which is what produced the
## printed Table 3.1.
suppressMessages({library(lme4); library(jsonlite)})
data(Exam, package = "mlmRev")
schools <- c("28", "53", "59", "23", "7", "16", "2", "10", "37")

m0 <- lm(normexam ~ standLRT, data = Exam)
fits <- list(
  m1 = lmer(normexam ~ standLRT + (1 | school), data = Exam),
  m2 = lmer(normexam ~ standLRT + (standLRT - 1 | school), data = Exam),
  m3 = lmer(normexam ~ standLRT + (standLRT | school), data = Exam)
)

frame_rows <- function(d) {
  lapply(split(d, seq_len(nrow(d))), function(r) as.list(r))
}
by_school <- function(d) {
  d <- as.data.frame(d)[schools, , drop = FALSE]
  setNames(lapply(schools, function(s) as.list(d[s, , drop = FALSE])), schools)
}

describe <- function(m) {
  se <- sqrt(diag(as.matrix(vcov(m))))
  vc <- as.data.frame(VarCorr(m))
  list(
    formula = deparse(formula(m)),
    AIC = AIC(m), BIC = BIC(m), logLik = as.numeric(logLik(m)),
    deviance = deviance(m, REML = FALSE), REMLcrit = REMLcrit(m),
    varcorr = unname(frame_rows(vc)),
    nobs = nobs(m), ngroups = as.list(ngrps(m)),
    fixef = as.list(fixef(m)), se = as.list(se), t = as.list(fixef(m) / se),
    sigma = sigma(m), resid_sd = sd(resid(m)),
    coef = by_school(coef(m)$school),
    ranef = by_school(ranef(m)$school)
  )
}

level1 <- function(m, conf = 0.95) {
  z <- qnorm(1 - (1 - conf) / 2)
  X <- getME(m, "X"); y <- getME(m, "y"); g <- getME(m, "flist")$school
  s2 <- sigma(m)^2
  Tm <- as.matrix(VarCorr(m)$school)
  I <- diag(ncol(X))
  levs <- levels(g)
  parts <- lapply(levs, function(s) {
    Xj <- X[g == s, , drop = FALSE]; yj <- y[g == s]
    XtX <- crossprod(Xj)
    bhat <- solve(XtX, crossprod(Xj, yj))
    V <- s2 * solve(XtX)
    D <- Tm + V
    list(bhat = bhat, V = V, D = D, L = Tm %*% solve(D))
  })
  Dinv_sum <- Reduce(`+`, lapply(parts, function(p) solve(p$D)))
  Db_sum <- Reduce(`+`, lapply(parts, function(p) solve(p$D, p$bhat)))
  Vg <- solve(Dinv_sum)
  gamma <- Vg %*% Db_sum
  rows <- lapply(seq_along(levs), function(k) {
    p <- parts[[k]]
    bstar <- p$L %*% p$bhat + (I - p$L) %*% gamma
    post <- solve(solve(p$V) + solve(Tm))
    v_eq <- diag(post + (I - p$L) %*% Vg %*% t(I - p$L))
    v_rep <- diag(post + (I - p$D) %*% Vg %*% t(I - p$D))
    list(school = levs[k], term = colnames(X), estimate = as.numeric(bstar),
         lower_eq316 = as.numeric(bstar) - z * sqrt(v_eq),
         upper_eq316 = as.numeric(bstar) + z * sqrt(v_eq),
         lower_report = as.numeric(bstar) - z * sqrt(v_rep),
         upper_report = as.numeric(bstar) + z * sqrt(v_rep))
  })
  list(gamma = as.numeric(gamma), gamma_vcov = Vg, T = Tm, sigma2 = s2, schools = rows)
}

out <- list(
  lme4_version = as.character(packageVersion("lme4")),
  R_version = R.version.string,
  schools = schools,
  m0 = list(formula = deparse(formula(m0)), coef = as.list(coef(m0)),
            se = as.list(summary(m0)$coefficients[, "Std. Error"]),
            sigma = sigma(m0), resid_sd = sd(resid(m0)),
            logLik = as.numeric(logLik(m0)), AIC = AIC(m0), BIC = BIC(m0)),
  m1 = describe(fits$m1), m2 = describe(fits$m2), m3 = describe(fits$m3),
  level1_m3 = level1(fits$m3)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "report_lme4.json")
