# Times one glmmTMB call of the families corpus (tests/reference/families), for families.py.
#   Rscript families_bench.R DATA.csv DATA.schema.json NAME REPEATS 'glmmTMB(..., data = NAME, ...)'
# Reads the CSV with the schema's factor levels (as the corpus was made), binds it to NAME,
# fits once to warm up, then REPEATS times (more while they add up to under 2 s, at most 50),
# and prints one JSON line: the median elapsed seconds, the fits timed, -2 logLik.
suppressPackageStartupMessages({ library(glmmTMB); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
csv <- args[1]; schema <- fromJSON(args[2], simplifyVector = FALSE); name <- args[3]
repeats <- as.integer(args[4]); call_text <- args[5]
dat <- read.csv(csv, stringsAsFactors = FALSE)
for (col in schema$columns) {
  if (identical(col$type, "factor")) dat[[col$name]] <- factor(dat[[col$name]], levels = unlist(col$levels))
}
assign(name, dat)
fit <- function() eval(parse(text = call_text))
m <- fit()
times <- c()
while (length(times) < repeats || (sum(times) < 2 && length(times) < 50)) {
  times <- c(times, system.time(m <- fit())[["elapsed"]])
}
cat(toJSON(list(median_seconds = median(times), fits = length(times),
                objective = -2 * as.numeric(logLik(m)),
                version = as.character(packageVersion("glmmTMB"))), auto_unbox = TRUE, digits = NA), "\n")
