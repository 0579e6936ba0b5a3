# R references for what the post-fit corpus (models/, made by postfit_reference.R) leaves out:
# emmeans with `at`, custom/poly/eff contrasts, Sidak/Bonferroni/Holm/Scheffe adjustments, the
# exact Dunnett p-values (adjust = "mvt"), a Poisson model on the response scale, clubSandwich's
# coef_test (CR2, Satterthwaite df), and prediction-error SEs that keep the random effects (a
# direct computation from Henderson's mixed-model equations: lme4 1.1-31 has no se.fit).
# Usage (from this folder): Rscript postfit_extra.R > extra.json
suppressMessages({library(lme4); library(jsonlite); library(emmeans); library(clubSandwich)})
emm_options(pbkrtest.limit = 1e7, lmerTest.limit = 1e7)
read_data <- function(name) {
  sch <- fromJSON(file.path("data", paste0(name, ".schema.json")))$columns
  fac <- sch$name[sch$type == "factor"]
  d <- read.csv(file.path("data", paste0(name, ".csv")), colClasses = setNames(rep("character", length(fac)), fac))
  for (i in seq_len(nrow(sch))) if (sch$type[i] == "factor") d[[sch$name[i]]] <- factor(d[[sch$name[i]]], levels = sch$levels[[i]])
  d
}
ctl <- lmerControl(optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5))
gctl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
tab <- function(x) { x <- as.data.frame(x); lapply(x, function(v) if (is.factor(v)) as.character(v) else if (is.numeric(v)) ifelse(is.infinite(v), "Inf", v) else v) }
out <- list(versions = list(lme4 = as.character(packageVersion("lme4")), emmeans = as.character(packageVersion("emmeans")),
                            clubSandwich = as.character(packageVersion("clubSandwich"))))
entry <- function(call, value) list(r_call = call, table = tab(value))

exam <- read_data("exam"); cake <- read_data("cake"); sleep <- read_data("sleepstudy")
m_exam <- lmer(normexam ~ standLRT + sex + schgend + (standLRT | school), exam, control = ctl)
m_cake <- lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake, control = ctl)
m_sleep <- lmer(Reaction ~ Days + (Days | Subject), sleep, control = ctl)

em <- emmeans(m_exam, ~ schgend, at = list(standLRT = 1), lmer.df = "kenward-roger")
out$exam_at <- entry('emmeans(m_exam, ~ schgend, at = list(standLRT = 1), lmer.df = "kenward-roger")', summary(em))
em <- emmeans(m_exam, ~ schgend, lmer.df = "satterthwaite")
for (a in c("sidak", "bonferroni", "holm", "scheffe", "none"))
  out[[paste0("exam_pairs_", a)]] <- entry(sprintf('pairs(emmeans(m_exam, ~ schgend, lmer.df = "satterthwaite"), adjust = "%s")', a), summary(pairs(em, adjust = a)))
out$exam_revpairs <- entry('pairs(emmeans(m_exam, ~ schgend, lmer.df = "satterthwaite"), reverse = TRUE)', summary(pairs(em, reverse = TRUE)))
em <- emmeans(m_cake, ~ recipe, lmer.df = "satterthwaite")
out$cake_custom <- entry('contrast(emmeans(m_cake, ~ recipe, lmer.df = "satterthwaite"), list(AvsBC = c(1, -0.5, -0.5), BvsC = c(0, 1, -1)))',
                         summary(contrast(em, list(AvsBC = c(1, -0.5, -0.5), BvsC = c(0, 1, -1)))))
out$cake_eff <- entry('contrast(emmeans(m_cake, ~ recipe, lmer.df = "satterthwaite"), "eff")', summary(contrast(em, "eff")))
em <- emmeans(m_cake, ~ temperature, lmer.df = "satterthwaite")
out$cake_poly <- entry('contrast(emmeans(m_cake, ~ temperature, lmer.df = "satterthwaite"), "poly")', summary(contrast(em, "poly")))
out$cake_poly_coef <- list(r_call = 'coef(contrast(emmeans(m_cake, ~ temperature), "poly"))', table = tab(coef(contrast(em, "poly"))))
set.seed(20261202)
em <- emmeans(m_cake, ~ temperature | recipe, lmer.df = "kenward-roger")
out$cake_mvt <- entry('set.seed(20261202); contrast(emmeans(m_cake, ~ temperature | recipe, lmer.df = "kenward-roger"), "trt.vs.ctrl", adjust = "mvt")',
                      summary(contrast(em, "trt.vs.ctrl", adjust = "mvt")))

gt <- lme4::grouseticks
m_gt <- glmer(TICKS ~ YEAR + (1 | BROOD), gt, family = poisson, control = gctl)
write.csv(gt[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")], "data/grouseticks.csv", row.names = FALSE)
write(toJSON(list(data = "grouseticks", columns = list(
  list(name = "INDEX", type = "factor", levels = levels(gt$INDEX)), list(name = "TICKS", type = "numeric"),
  list(name = "BROOD", type = "factor", levels = levels(gt$BROOD)), list(name = "HEIGHT", type = "numeric"),
  list(name = "YEAR", type = "factor", levels = levels(gt$YEAR)), list(name = "LOCATION", type = "factor", levels = levels(gt$LOCATION)))),
  auto_unbox = TRUE, pretty = TRUE), "data/grouseticks.schema.json")
em <- emmeans(m_gt, ~ YEAR, type = "response")
out$grouse_rate <- entry('emmeans(m_gt, ~ YEAR, type = "response"); m_gt = glmer(TICKS ~ YEAR + (1 | BROOD), grouseticks, poisson)', summary(em))
out$grouse_ratio <- entry('pairs(emmeans(m_gt, ~ YEAR, type = "response"))', summary(pairs(em)))

for (nm in c("sleep", "exam", "cake")) {
  m <- get(paste0("m_", nm))
  out[[paste0(nm, "_coef_test_CR2")]] <- entry(sprintf('coef_test(m_%s, vcov = "CR2", test = "Satterthwaite")', nm),
    coef_test(m, vcov = "CR2", test = "Satterthwaite"))
}

# prediction-error SEs of x'b + z'u given the variance parameters: Henderson's C = [X'X, X'Z; Z'X, Z'Z + s2 G^-1]^-1 s2
X <- getME(m_sleep, "X"); Z <- as.matrix(getME(m_sleep, "Z")); s2 <- sigma(m_sleep)^2
G <- as.matrix(crossprod(getME(m_sleep, "Lambdat"))) * s2
C <- solve(rbind(cbind(crossprod(X), crossprod(X, Z)), cbind(crossprod(Z, X), crossprod(Z) + s2 * solve(G)))) * s2
rows <- c(1, 15, 100, 180)
A <- cbind(X, Z)[rows, ]
out$sleep_pev <- list(r_call = "sqrt(diag(A C A')) with A = [X Z][rows], C Henderson's inverse times sigma^2 (lme4 1.1-31 has no se.fit)",
  rows = rows - 1, fit = unname(predict(m_sleep)[rows]), se_fit = sqrt(diag(A %*% C %*% t(A))), sigma = sigma(m_sleep))
inf <- influence(m_sleep, groups = "Subject")
out$sleep_influence <- list(r_call = 'inf <- influence(m_sleep, groups = "Subject"); inf$"fixed.effects[-Subject]"; cooks.distance(inf)',
  levels = rownames(inf$"fixed.effects[-Subject]"), fixef = tab(inf$"fixed.effects[-Subject]"), cooks = unname(as.numeric(cooks.distance(inf))))
cat(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE))
