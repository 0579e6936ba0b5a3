## R's lm() on Exam for tests/test_ols.py: factors, an interaction, an offset, missing values.
## Run from this directory: Rscript lm_reference.R   (writes lm_reference.json)
suppressMessages(library(jsonlite))
data(Exam, package = "mlmRev")
Exam$off <- 0.1 * Exam$schavg
Exam$lrt_na <- Exam$standLRT
Exam$lrt_na[c(3, 50, 400)] <- NA
describe <- function(formula) {
  m <- lm(as.formula(formula), data = Exam)
  s <- summary(m)$coefficients
  list(formula = formula, coef = as.list(coef(m)), se = as.list(s[, "Std. Error"]),
       t = as.list(s[, "t value"]), p = as.list(s[, "Pr(>|t|)"]),
       sigma = sigma(m), df_residual = df.residual(m), nobs = nobs(m),
       logLik = as.numeric(logLik(m)), AIC = AIC(m), BIC = BIC(m),
       fitted_head = unname(head(fitted(m), 5)))
}
out <- lapply(c("normexam ~ standLRT",
                "normexam ~ standLRT * sex + schgend",
                "normexam ~ standLRT + offset(off)",
                "normexam ~ lrt_na + vr"), describe)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "lm_reference.json")
