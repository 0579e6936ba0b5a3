# lme4's side of the benchmark, started by benchmarks/run.py, one process per model.
#
# Reads the CSV + JSON sidecar that run.py wrote (the same files the Python tools read), sets the
# factors with the sidecar's levels, and prints one `BENCH {json}` line per step:
#
#   Rscript lme4_bench.R --mode=fit --tool=lme4 --family=gaussian --csv=D.csv --meta=D.json \
#       --formula="y ~ x + (x | g)" --warmup=1 --repeats=5 --min-seconds=2 --max-fits=100
#     each fit: system.time(lmer(...))[["elapsed"]], so R's startup and the data reading are
#     not counted; after the warm-up, `repeats` timed fits and more (at most `max-fits`) while
#     they add up to less than `min-seconds`; then a summary line with their median.
#     --family=binomial|poisson fits glmer (lme4's defaults: Laplace, Hessian SEs; --nagq=0
#     its first stage alone, nAGQ = 0); with
#     --tool=glmmTMB, glmmTMB(formula, dat, family) (maximum likelihood). Their objective is
#     -2 logLik, lmer's the REML criterion.
#   Rscript lme4_bench.R --mode=eval --csv=... --meta=... --formula=... --theta=1,0.2,0.5 --calls=20
#     the deviance function (lmer(devFunOnly = TRUE)): setup time and median time per call.
#   Rscript lme4_bench.R --mode=versions

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
  library(data.table)
})
has_glmmTMB <- requireNamespace("glmmTMB", quietly = TRUE)

emit <- function(event, ...) {
  line <- toJSON(list(event = event, ...), auto_unbox = TRUE, digits = NA, null = "null")
  cat("BENCH ", line, "\n", sep = "")
  flush(stdout())
}

parse_args <- function(args) {
  keys <- sub("^--([^=]+)=.*$", "\\1", args)
  values <- sub("^--[^=]+=", "", args)
  setNames(as.list(values), keys)
}

load_data <- function(csv, meta_path) {
  start <- proc.time()[["elapsed"]]
  meta <- fromJSON(meta_path, simplifyVector = FALSE)
  factors <- names(meta$factors)
  dat <- as.data.frame(fread(csv, colClasses = list(character = factors), na.strings = "NA"))
  for (f in factors) {
    lev <- meta$factors[[f]]
    dat[[f]] <- if (is.null(lev)) factor(dat[[f]]) else factor(dat[[f]], levels = unlist(lev))
  }
  emit("loaded", rows = nrow(dat), seconds = proc.time()[["elapsed"]] - start)
  dat
}

fit_model <- function(formula, dat, tool, family, nagq) {
  if (tool == "glmmTMB") return(glmmTMB::glmmTMB(formula, dat, family = family))
  if (family == "gaussian") return(lmer(formula, dat, REML = TRUE))
  glmer(formula, dat, family = family, nAGQ = nagq)
}

outcome <- function(m, tool, family) {
  if (tool == "glmmTMB") {
    return(list(evaluations = unname(m$fit$evaluations[["function"]]),
                objective = -2 * as.numeric(logLik(m)), converged = m$fit$convergence == 0))
  }
  objective <- if (family == "gaussian") REMLcrit(m) else -2 * as.numeric(logLik(m))
  list(evaluations = m@optinfo$feval, objective = objective,
       converged = m@optinfo$conv$opt == 0)
}

fit_once <- function(formula, dat, tool = "lme4", family = "gaussian", nagq = 1L) {
  notes <- character(0)
  keep <- function(condition) notes <<- c(notes, trimws(conditionMessage(condition)))
  m <- NULL
  timing <- withCallingHandlers(
    system.time(m <- fit_model(formula, dat, tool, family, nagq)),
    warning = function(w) {
      keep(w)
      invokeRestart("muffleWarning")
    },
    message = function(msg) {
      keep(msg)
      invokeRestart("muffleMessage")
    }
  )
  out <- outcome(m, tool, family)
  list(
    seconds = timing[["elapsed"]],
    cpu_seconds = timing[["user.self"]] + timing[["sys.self"]],
    evaluations = out$evaluations,
    objective = out$objective,
    converged = out$converged,
    notes = unique(notes),
    groups = if (tool == "glmmTMB") NULL else as.list(ngrps(m))
  )
}

emit_fit <- function(r, warmup) {
  emit("fit",
    warmup = warmup, seconds = r$seconds, cpu_seconds = r$cpu_seconds,
    evaluations = r$evaluations, objective = r$objective, converged = r$converged,
    notes = I(r$notes), groups = r$groups
  )
}

run_fits <- function(opt) {
  dat <- load_data(opt$csv, opt$meta)
  formula <- as.formula(opt$formula)
  warmup <- as.integer(opt$warmup)
  repeats <- as.integer(opt$repeats)
  least <- as.numeric(opt$`min-seconds`)
  most <- as.integer(opt$`max-fits`)
  tool <- if (is.null(opt$tool)) "lme4" else opt$tool
  family <- if (is.null(opt$family)) "gaussian" else opt$family
  nagq <- if (is.null(opt$nagq)) 1L else as.integer(opt$nagq)
  if (tool == "glmmTMB" && !has_glmmTMB) stop("glmmTMB is not installed")
  for (i in seq_len(warmup)) emit_fit(fit_once(formula, dat, tool, family, nagq), warmup = TRUE)
  times <- numeric(0)
  while (length(times) < repeats || (sum(times) < least && length(times) < most)) {
    r <- fit_once(formula, dat, tool, family, nagq)
    emit_fit(r, warmup = FALSE)
    times <- c(times, r$seconds)
  }
  emit("summary", median_seconds = median(times), repeats = length(times))
}

run_evaluations <- function(opt) {
  dat <- load_data(opt$csv, opt$meta)
  start <- proc.time()[["elapsed"]]
  devfun <- lmer(as.formula(opt$formula), dat, REML = TRUE, devFunOnly = TRUE)
  setup <- proc.time()[["elapsed"]] - start
  theta <- as.numeric(strsplit(opt$theta, ",")[[1]])
  value <- devfun(theta) # warm-up
  one_call <- function(i) {
    start <- Sys.time()
    devfun(theta)
    as.numeric(difftime(Sys.time(), start, units = "secs"))
  }
  times <- vapply(seq_len(as.integer(opt$calls)), one_call, numeric(1))
  emit("eval", setup_seconds = setup, median_seconds = median(times), objective = value)
}

versions <- function() {
  emit("versions",
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    glmmTMB = if (has_glmmTMB) as.character(packageVersion("glmmTMB")) else "not installed",
    Matrix = as.character(packageVersion("Matrix")),
    data.table = as.character(packageVersion("data.table")),
    BLAS = extSoftVersion()[["BLAS"]],
    LAPACK = La_library()
  )
}

opt <- parse_args(commandArgs(trailingOnly = TRUE))
tryCatch(
  switch(opt$mode,
    fit = run_fits(opt),
    eval = run_evaluations(opt),
    versions = versions(),
    stop("unknown --mode: ", opt$mode)
  ),
  error = function(e) {
    emit("error", message = conditionMessage(e))
    quit(status = 1)
  }
)
