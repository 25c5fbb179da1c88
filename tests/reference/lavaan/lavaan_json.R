# lavaan_json.R -- helpers shared by make_extras.R and make_groups.R.
#
# Exact JSON writing (every double as "%.17g", which round-trips; NA/NaN/Inf
# as null), warning capture, and small converters from lavaan objects to
# plain lists.  The same conventions as make_reference.R (which keeps its own
# copy so that it stays self-contained).

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

num_str <- function(x) {
  s <- sprintf("%.17g", x)
  s[!is.finite(x)] <- "null"
  s
}

# Numeric matrices -> array of rows; numeric vectors of length 1 -> scalar
# unless wrapped in I(); longer numeric vectors -> arrays.
exactify <- function(x) {
  if (is.list(x) && !is.data.frame(x)) {
    keep_class <- inherits(x, "AsIs")
    y <- lapply(x, exactify)
    if (keep_class) class(y) <- "AsIs"
    return(y)
  }
  if (is.numeric(x) && !is.null(dim(x)) && length(dim(x)) == 2L) {
    rows <- vapply(seq_len(nrow(x)), function(i) {
      paste0("[", paste(num_str(as.numeric(x[i, ])), collapse = ","), "]")
    }, character(1))
    return(structure(paste0("[", paste(rows, collapse = ","), "]"),
                     class = "json"))
  }
  if (is.numeric(x)) {
    x_is_array <- inherits(x, "AsIs") || length(x) != 1L
    v <- num_str(as.numeric(unclass(x)))
    if (x_is_array) {
      return(structure(paste0("[", paste(v, collapse = ","), "]"),
                       class = "json"))
    }
    return(structure(v, class = "json"))
  }
  if (is.logical(x) && length(x) == 1L && is.na(x)) {
    return(structure("null", class = "json"))
  }
  x
}

write_exact_json <- function(obj, file) {
  txt <- jsonlite::toJSON(exactify(obj), auto_unbox = TRUE, pretty = TRUE,
                          json_verbatim = TRUE, na = "null", null = "null",
                          digits = NA)
  writeLines(txt, file, useBytes = TRUE)
  invisible(file)
}

# Evaluate expr; collect warnings; an error is returned as the value.
with_warnings <- function(expr, tag) {
  w <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) e),
    warning = function(cond) {
      msg <- conditionMessage(cond)
      w <<- c(w, msg)
      message(sprintf("[%s] WARNING: %s", tag, msg))
      invokeRestart("muffleWarning")
    }
  )
  list(value = val, warnings = w)
}

write_data_csv <- function(d, file, vars) {
  out <- d[, c(vars, "cluster")]
  for (v in vars) {
    x <- out[[v]]
    s <- sprintf("%.15g", x)
    s[is.na(x)] <- ""
    out[[v]] <- s
  }
  utils::write.csv(out, file, row.names = FALSE, quote = FALSE, na = "")
  invisible(file)
}

read_data_csv <- function(file) {
  d <- utils::read.csv(file, na.strings = c("", "NA"))
  d$cluster <- as.integer(d$cluster)
  d
}

matrix_rows <- function(m) unname(as.matrix(unclass(m)))

# A square named matrix as list(names, matrix); the names label rows and cols.
named_matrix <- function(m) {
  m <- as.matrix(unclass(m))
  list(names = I(colnames(m)), matrix = matrix_rows(m))
}

# One level of lavInspect(fit, "implied"/"h1"): vars, cov (rows), mean.
level_block <- function(b) {
  cv <- unclass(b$cov)
  list(vars = I(rownames(cv)), cov = matrix_rows(cv),
       mean = I(unname(as.numeric(b$mean))))
}

# lavaan calls the levels "within" and (the cluster variable) "cluster".
two_levels <- function(lst) {
  stopifnot(length(lst) == 2L)
  list(lavaan_level_names = I(names(lst)),
       within = level_block(lst[[1L]]), between = level_block(lst[[2L]]))
}

# Data-frame rows -> list of records (one list per row), NA -> null.
df_records <- function(df) {
  lapply(seq_len(nrow(df)), function(i) {
    r <- lapply(df[i, , drop = FALSE], function(v) {
      v <- unname(v)
      if (is.factor(v)) v <- as.character(v)
      if (is.numeric(v) && !is.finite(v)) return(NA)
      v
    })
    r
  })
}

pt_group <- function(pt) {
  if (is.null(pt$group)) rep(1L, nrow(pt)) else as.integer(pt$group)
}

# parameterEstimates rows with the parTable columns (block, level, group,
# label, plabel, free index) next to est/se/z/pvalue.
param_records <- function(fit) {
  pt <- lavaan::parTable(fit)
  pe <- lavaan::parameterEstimates(fit, remove.eq = FALSE, remove.ineq = FALSE,
                                   remove.system.eq = FALSE,
                                   remove.def = FALSE)
  stopifnot(nrow(pe) == nrow(pt), all(pe$lhs == pt$lhs & pe$op == pt$op &
                                        pe$rhs == pt$rhs))
  out <- data.frame(lhs = pt$lhs, op = pt$op, rhs = pt$rhs,
                    block = as.integer(pt$block), level = as.integer(pt$level),
                    group = pt_group(pt), label = pt$label,
                    plabel = pt$plabel, free_index = as.integer(pt$free),
                    est = pe$est, se = pe$se, z = pe$z, pvalue = pe$pvalue,
                    stringsAsFactors = FALSE)
  df_records(out)
}

# standardizedSolution rows (same order as parTable, so block/level/group
# come from there).
std_records <- function(fit, type) {
  pt <- lavaan::parTable(fit)
  ss <- lavaan::standardizedSolution(fit, type = type, remove.eq = FALSE,
                                     remove.ineq = FALSE, remove.def = FALSE)
  stopifnot(nrow(ss) == nrow(pt), all(ss$lhs == pt$lhs & ss$op == pt$op &
                                        ss$rhs == pt$rhs))
  out <- data.frame(lhs = pt$lhs, op = pt$op, rhs = pt$rhs,
                    block = as.integer(pt$block), level = as.integer(pt$level),
                    group = pt_group(pt), label = pt$label,
                    est_std = ss$est.std, se = ss$se, z = ss$z,
                    pvalue = ss$pvalue, stringsAsFactors = FALSE)
  df_records(out[out$op != "==", , drop = FALSE])
}

fit_measures_list <- function(fit) {
  fm <- lavaan::fitMeasures(fit)
  as.list(setNames(as.numeric(fm), names(fm)))
}

# Equality constraints (".p2. == .p17.") as plabel pairs plus the free
# indices they join.
constraint_records <- function(fit) {
  pt <- lavaan::parTable(fit)
  ceq <- pt[pt$op == "==", , drop = FALSE]
  lapply(seq_len(nrow(ceq)), function(i) {
    list(lhs = ceq$lhs[i], rhs = ceq$rhs[i],
         lhs_free_index = as.integer(pt$free[match(ceq$lhs[i], pt$plabel)]),
         rhs_free_index = as.integer(pt$free[match(ceq$rhs[i], pt$plabel)]))
  })
}
