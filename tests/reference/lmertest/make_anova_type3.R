# Type III ANOVA references for tests/test_ddf.py: lmerTest 3.1-3 (pbkrtest 0.5.2 for Kenward-Roger),
# lme4 1.1-31, R 4.2.
# Usage (from the repository root):
#   Rscript tests/reference/lmertest/make_anova_type3.R [DATADIR]
# DATADIR holds NAME.csv and NAME.schema.json (default /work/shared/reference/data); factor
# columns get the schema's levels in R's order, as lmerpy.datasets.load() and parity.py's
# read_data() set them. Writes tests/reference/lmertest/anova_type3.json.
suppressMessages({library(lmerTest); library(jsonlite)})
args <- commandArgs(TRUE)
datadir <- if (length(args) > 0) args[1] else "/work/shared/reference/data"
out <- "tests/reference/lmertest/anova_type3.json"

read_data <- function(name) {
  d <- read.csv(file.path(datadir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  schema <- fromJSON(file.path(datadir, paste0(name, ".schema.json")), simplifyVector = FALSE)
  for (col in schema$columns) if (col$type == "factor")
    d[[col$name]] <- factor(as.character(d[[col$name]]), levels = unlist(col$levels))
  d
}

table_list <- function(a, call) {
  col <- function(name) I(unname(a[[name]]))  # I(): a JSON array even for one term
  list(call = call, terms = I(rownames(a)), sum_sq = col("Sum Sq"), mean_sq = col("Mean Sq"),
       num_df = col("NumDF"), den_df = col("DenDF"), f_value = col("F value"), p_value = col("Pr(>F)"))
}

ref_anova3 <- function(id, dname, formula, kr = TRUE) {
  d <- read_data(dname)
  m <- lmerTest::lmer(as.formula(formula), data = d, REML = TRUE)
  fit_call <- sprintf('m <- lmerTest::lmer(%s, data = %s, REML = TRUE)', formula, dname)
  a <- anova(m, type = "III", ddf = "Satterthwaite")
  hyp <- lapply(show_tests(a), function(L) list(rows = I(as.character(rownames(L))), columns = I(colnames(L)), L = unname(L)))
  r <- list(id = id, data = dname, formula = formula, REML = TRUE, fit = fit_call,
            fixef = as.list(fixef(m)), theta = unname(getME(m, "theta")), sigma = sigma(m),
            satterthwaite = table_list(a, 'anova(m, type = "III", ddf = "Satterthwaite")'),
            hypotheses = hyp)
  if (kr) r$kenward_roger <- table_list(anova(m, type = "III", ddf = "Kenward-Roger"),
                                        'anova(m, type = "III", ddf = "Kenward-Roger")')
  cat(sprintf("%-26s %s\n", id, formula))
  r
}

refs <- list(
  ref_anova3("exam_factors", "exam", "normexam ~ standLRT + sex + schgend + (standLRT | school)"),
  ref_anova3("exam_level2", "exam", "normexam ~ standLRT * schavg + (standLRT | school)"),
  ref_anova3("exam_sex_intake", "exam", "normexam ~ sex * intake + standLRT + (1 | school)"),
  # empty cells: lme4 drops sexM:schgendboys and sexM:schgendgirls, the term's row is NA
  ref_anova3("exam_missing_cells", "exam", "normexam ~ sex * schgend + (1 | school)"),
  ref_anova3("exam_no_intercept", "exam", "normexam ~ 0 + sex + standLRT + (1 | school)"),
  ref_anova3("cake_interaction", "cake", "angle ~ recipe * temp + (1 | recipe:replicate)"),
  ref_anova3("cake_factorial", "cake", "angle ~ recipe * temperature + (1 | recipe:replicate)"),
  ref_anova3("sleepstudy_corr", "sleepstudy", "Reaction ~ Days + (Days | Subject)"),
  ref_anova3("orthodont", "orthodont", "distance ~ age + Sex + (age | Subject)"),
  ref_anova3("orthodont_interaction", "orthodont", "distance ~ age * Sex + (age | Subject)")
)
names(refs) <- vapply(refs, function(r) r$id, "")
meta <- list(made_by = "tests/reference/lmertest/make_anova_type3.R",
             versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                             lmerTest = as.character(packageVersion("lmerTest")),
                             pbkrtest = as.character(packageVersion("pbkrtest"))))
write(toJSON(list(meta = meta, models = refs), auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), out)
