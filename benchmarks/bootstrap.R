# lme4's parametric bootstrap of sleepstudy, timed as benchmarks/bootstrap.py times lmerpy's:
# bootMer(m, fixef, nsim, seed, parallel = "no" | "multicore", ncpus = 2).
# Usage: Rscript bootstrap.R NSIM  -> JSON {"serial": s, "two": s}
suppressMessages(library(lme4))
nsim <- as.integer(commandArgs(TRUE)[1])
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
invisible(bootMer(m, fixef, nsim = 5, seed = 1))
serial <- system.time(bootMer(m, fixef, nsim = nsim, seed = 1))[["elapsed"]]
two <- system.time(bootMer(m, fixef, nsim = nsim, seed = 1, parallel = "multicore", ncpus = 2))[["elapsed"]]
cat(sprintf('{"serial": %.4f, "two": %.4f}\n', serial, two))
