# lme4 on the data-as-loaded benchmark: read the CSV (group labels as text, as read.csv gives
# them) and time lmer(y ~ x + (x | g)) once after a warm-up fit on a slice.
# Usage: Rscript dtypes.R FILE.csv  -> JSON {"seconds": s, "objective": REMLcrit}
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1], stringsAsFactors = FALSE)
invisible(lmer(y ~ x + (x | g), d[1:20000, ]))
t <- system.time(m <- lmer(y ~ x + (x | g), d))[["elapsed"]]
cat(sprintf('{"seconds": %.3f, "objective": %.6f}\n', t, REMLcrit(m)))
