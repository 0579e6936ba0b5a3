# Coefficient-table references beyond tests/reference/*.json, for tests/test_ddf.py:
# Satterthwaite df of ML fits and of boundary (singular) fits with vector-valued random
# effects, from lmerTest 3.1-3 (pbkrtest 0.5.2), lme4 1.1-31, R 4.2.
# Usage (from the repository root):
#   Rscript tests/reference/lmertest/make_summary_extra.R [DATADIR]
# DATADIR holds NAME.csv and NAME.schema.json (default /work/shared/reference/data).
# Writes tests/reference/lmertest/summary_extra.json.
suppressMessages({library(lmerTest); library(jsonlite)})
args <- commandArgs(TRUE)
datadir <- if (length(args) > 0) args[1] else "/work/shared/reference/data"
out <- "tests/reference/lmertest/summary_extra.json"

read_data <- function(name) {
  d <- read.csv(file.path(datadir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  schema <- fromJSON(file.path(datadir, paste0(name, ".schema.json")), simplifyVector = FALSE)
  for (col in schema$columns) if (col$type == "factor")
    d[[col$name]] <- factor(as.character(d[[col$name]]), levels = unlist(col$levels))
  d
}

coef_list <- function(s, call) {
  list(call = call, names = I(rownames(s)), estimate = I(unname(s[, "Estimate"])),
       se = I(unname(s[, "Std. Error"])), df = I(unname(s[, "df"])),
       t = I(unname(s[, "t value"])), p = I(unname(s[, "Pr(>|t|)"])))
}

ref_summary <- function(id, dname, formula, REML) {
  d <- read_data(dname)
  m <- suppressMessages(lmerTest::lmer(as.formula(formula), data = d, REML = REML))
  r <- list(id = id, data = dname, formula = formula, REML = REML,
            fit = sprintf("m <- lmerTest::lmer(%s, data = %s, REML = %s)", formula, dname, REML),
            theta = I(unname(getME(m, "theta"))), sigma = sigma(m), is_singular = isSingular(m),
            satterthwaite = coef_list(summary(m, ddf = "Satterthwaite")$coefficients,
                                      'summary(m, ddf = "Satterthwaite")$coefficients'))
  if (REML) r$kenward_roger <- coef_list(summary(m, ddf = "Kenward-Roger")$coefficients,
                                         'summary(m, ddf = "Kenward-Roger")$coefficients')
  cat(sprintf("%-26s %s%s\n", id, formula, if (isSingular(m)) "  (singular)" else ""))
  r
}

refs <- list(
  ref_summary("sleepstudy_corr_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", FALSE),
  ref_summary("exam_factors_ml", "exam", "normexam ~ standLRT + sex + schgend + (standLRT | school)", FALSE),
  ref_summary("exam_schgend_singular", "exam", "normexam ~ standLRT + (standLRT | schgend)", TRUE),
  ref_summary("cake_recipe_singular", "cake", "angle ~ recipe + (recipe | replicate)", TRUE)
)
names(refs) <- vapply(refs, function(r) r$id, "")
meta <- list(made_by = "tests/reference/lmertest/make_summary_extra.R",
             versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                             lmerTest = as.character(packageVersion("lmerTest")),
                             pbkrtest = as.character(packageVersion("pbkrtest"))))
write(toJSON(list(meta = meta, models = refs), auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
