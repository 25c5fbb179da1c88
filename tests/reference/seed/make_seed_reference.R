# make_seed_reference.R -- the psychonetrics seed document's example, number for number.
#
# Usage (from this folder):
#     cd tests/reference/seed && Rscript make_seed_reference.R
#
# 1. Runs the simulation of the seed document ("ml_lvm family overview",
#    section "Example: Two-Level CFA on Simulated Data") exactly as printed
#    there: set.seed(2), 60 clusters, 6 variables, rnorm draws in the printed
#    order.  Once with perCluster <- 10 (the example) and once with
#    perCluster <- 18 (the document's "ML vs FIML" variant: "Same simulation as
#    above, but with larger clusters").
# 2. Writes each data set as CSV (15 significant digits, columns y1..y6,
#    cluster) -- seed_60x10.csv, seed_60x18.csv.  The same files are shipped
#    in pm_mlvm/data/ (pmv.load_seed_example()).
# 3. Fits the document's two-level CFA with lavaan 0.6.14 to the data as read
#    back from the CSV (loadings equal across levels via labels, the first
#    indicator the marker, as tests/reference/lavaan/make_reference.R does) and
#    writes seed_60x10.json and seed_60x18.json: logL, chi-square, df, p-value,
#    CFI, TLI, RMSEA, the between/within latent covariances, every estimate,
#    and -- under "document" -- the numbers printed in the seed document
#    (psychonetrics), typed in from its text.
#
# psychonetrics itself is not installable here, so the document's printed
# values are its reference.  CI never runs R; the tests read the CSV/JSON.
# Numbers are written with "%.17g" (exact doubles); NA/NaN/Inf become null.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

RNGkind("Mersenne-Twister", "Inversion", "Rejection")

# ---------------------------------------------------------------------------
# the document's simulation, verbatim except that perCluster is an argument
# ---------------------------------------------------------------------------

simulate_seed <- function(perCluster) {
  set.seed(2)
  nCluster <- 60; nv <- 6
  cl <- rep(seq_len(nCluster), each = perCluster)
  # True loadings (2 factors, 3 indicators each):
  loadings <- matrix(0, nv, 2)
  loadings[1:3, 1] <- c(1, .8, .6)
  loadings[4:6, 2] <- c(1, .8, .6)
  # Between-cluster latents, within latents, and residuals on both levels:
  eta_b <- matrix(rnorm(nCluster * 2, 0, sqrt(0.5)), nCluster, 2)
  eta_w <- matrix(rnorm(nCluster * perCluster * 2), nCluster * perCluster, 2)
  u_b <- matrix(rnorm(nCluster * nv, 0, sqrt(0.3)), nCluster, nv)
  Y <- (eta_b[cl, ] + eta_w) %*% t(loadings) + u_b[cl, ] +
    matrix(rnorm(nCluster * perCluster * nv, 0, sqrt(0.5)), ncol = nv)
  Data <- as.data.frame(Y)
  colnames(Data) <- paste0("y", 1:nv)
  Data$cluster <- cl
  Data
}

# ---------------------------------------------------------------------------
# CSV and JSON with full precision (conventions of ../lavaan/make_reference.R)
# ---------------------------------------------------------------------------

write_data_csv <- function(d, file) {
  out <- d
  for (v in grep("^y", names(out), value = TRUE)) out[[v]] <- sprintf("%.15g", out[[v]])
  utils::write.csv(out, file, row.names = FALSE, quote = FALSE)
}

read_data_csv <- function(file) {
  d <- utils::read.csv(file, colClasses = "numeric")
  d$cluster <- as.integer(d$cluster)
  d
}

num_str <- function(x) {
  s <- sprintf("%.17g", x)
  s[!is.finite(x)] <- "null"
  s
}

# numeric matrices -> arrays of rows; length-1 numerics -> scalars unless I().
exactify <- function(x) {
  if (is.list(x) && !is.data.frame(x)) return(lapply(x, exactify))
  if (is.numeric(x) && length(dim(x)) == 2L) {
    rows <- vapply(seq_len(nrow(x)), function(i)
      paste0("[", paste(num_str(as.numeric(x[i, ])), collapse = ","), "]"), character(1))
    return(structure(paste0("[", paste(rows, collapse = ","), "]"), class = "json"))
  }
  if (is.numeric(x)) {
    v <- num_str(as.numeric(unclass(x)))
    if (inherits(x, "AsIs") || length(x) != 1L)
      return(structure(paste0("[", paste(v, collapse = ","), "]"), class = "json"))
    return(structure(v, class = "json"))
  }
  x
}

write_exact_json <- function(obj, file) {
  txt <- jsonlite::toJSON(exactify(obj), auto_unbox = TRUE, pretty = TRUE,
                          json_verbatim = TRUE, na = "null", null = "null", digits = NA)
  writeLines(txt, file, useBytes = TRUE)
}

# ---------------------------------------------------------------------------
# the lavaan fit
# ---------------------------------------------------------------------------

MODEL <- paste(
  "level: 1",
  "  F1 =~ y1 + a2*y2 + a3*y3",
  "  F2 =~ y4 + a5*y5 + a6*y6",
  "level: 2",
  "  F1 =~ y1 + a2*y2 + a3*y3",
  "  F2 =~ y4 + a5*y5 + a6*y6", sep = "\n")

latent_cov <- function(fit, level) {
  m <- unclass(lavaan::lavInspect(fit, "est")[[level]]$psi)
  list(names = I(rownames(m)), matrix = unname(m))
}

run_seed_case <- function(perCluster, document) {
  case <- sprintf("seed_60x%d", perCluster)
  csv <- paste0(case, ".csv")
  write_data_csv(simulate_seed(perCluster), csv)
  d <- read_data_csv(csv)
  fit <- lavaan::sem(MODEL, data = d, cluster = "cluster")
  times <- vapply(1:3, function(i)
    unname(system.time(lavaan::sem(MODEL, data = d, cluster = "cluster"))["elapsed"]),
    numeric(1))
  fm <- lavaan::fitMeasures(fit)
  pe <- lavaan::parameterEstimates(fit)
  params <- lapply(seq_len(nrow(pe)), function(i) list(
    lhs = pe$lhs[i], op = pe$op[i], rhs = pe$rhs[i], level = as.integer(pe$level[i]),
    label = pe$label[i], est = pe$est[i], se = pe$se[i]))
  res <- list(
    case = case,
    description = sprintf(paste(
      "The psychonetrics seed document's simulation (set.seed(2), 60 clusters x %d,",
      "6 indicators, 2 factors) fitted as a two-level CFA with loadings equal across",
      "levels."), perCluster),
    data_file = csv,
    lavaan_version = as.character(packageVersion("lavaan")),
    R_version = R.version.string,
    model_syntax = MODEL,
    lavaan_call = "sem(model, data = d, cluster = \"cluster\")",
    N = as.integer(nrow(d)),
    J = as.integer(length(unique(d$cluster))),
    converged = lavaan::lavInspect(fit, "converged"),
    lavaan = list(
      logl = as.numeric(logLik(fit)),
      unrestricted_logl = unname(fm["unrestricted.logl"]),
      npar = unname(fm["npar"]),
      chisq = unname(fm["chisq"]), df = unname(fm["df"]), pvalue = unname(fm["pvalue"]),
      cfi = unname(fm["cfi"]), tli = unname(fm["tli"]),
      rmsea = unname(fm["rmsea"]),
      rmsea_note = "lavaan's RMSEA uses N (pm_mlvm: rmsea_n); psychonetrics' uses J",
      aic = unname(fm["aic"]), bic = unname(fm["bic"]),
      srmr_within = unname(fm["srmr_within"]), srmr_between = unname(fm["srmr_between"]),
      sigma_zeta_within = latent_cov(fit, "within"),
      sigma_zeta_between = latent_cov(fit, "cluster"),
      timing_sem_seconds = stats::median(times),
      parameters = params),
    document = document)
  write_exact_json(res, paste0(case, ".json"))
  message(sprintf("[%s] logl %.6f chisq %.6f df %g p %.4f cfi %.4f tli %.4f", case,
                  res$lavaan$logl, fm[["chisq"]], fm[["df"]], fm[["pvalue"]], fm[["cfi"]],
                  fm[["tli"]]))
}

# The numbers the seed document prints (psychonetrics, estimator "ML"), typed from its text.
run_seed_case(10, list(
  source = "ml_lvm family overview, 'Example: Two-Level CFA on Simulated Data'",
  text = paste("The model fits well (chi^2(20) = 15.92, p = 0.72) and recovers the simulated",
               "latent variances on both levels (between ~ 0.5 scaled by the marker loading,",
               "within ~ 1)."),
  chisq = 15.92, df = 20, pvalue = 0.72,
  between_latent_variance_approx = 0.5, within_latent_variance_approx = 1))
run_seed_case(18, list(
  source = "ml_lvm family overview, 'Estimation: two-level ML vs FIML'",
  text = paste("The two estimators reach the same fit; 'ML' is about 3x faster here",
               "(objective values coincide to ~1e-13)."),
  ml_over_fiml_speedup_approx = 3, objective_agreement = 1e-13))

write_exact_json(list(
  R_version = R.version.string,
  lavaan_version = as.character(packageVersion("lavaan")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  RNGkind = I(RNGkind()),
  platform = R.version$platform), "versions.json")
message("done")
