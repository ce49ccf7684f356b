//! Dense linear algebra on small `ndarray` matrices: Gaussian elimination and Gauss-Jordan
//! inversion with partial pivoting. Every sum runs in index order (ndarray's own `sum` and `dot`
//! reorder the additions, which would change the fitted models in their last bits).

use ndarray::{Array1, Array2, ArrayView2};

/// Swaps rows `i` and `j` of `a`.
fn swap_rows(a: &mut Array2<f64>, i: usize, j: usize) {
    for k in 0..a.ncols() {
        a.swap([i, k], [j, k]);
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` when singular or
/// the solution is not finite.
pub fn solve(mut a: Array2<f64>, mut b: Array1<f64>) -> Option<Array1<f64>> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[[i, c]].abs().total_cmp(&a[[j, c]].abs()))?;
        if a[[p, c]].abs() < 1e-12 {
            return None;
        }
        swap_rows(&mut a, c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[[r, c]] / a[[c, c]];
            for k in c..n {
                a[[r, k]] -= f * a[[c, k]];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = Array1::zeros(n);
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[[r, k]] * x[k]).sum();
        x[r] = (b[r] - s) / a[[r, r]];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The inverse of the square matrix `m` by Gauss-Jordan elimination with partial pivoting;
/// `None` when singular.
pub fn invert(m: ArrayView2<'_, f64>) -> Option<Array2<f64>> {
    let d = m.nrows();
    let mut a = m.to_owned();
    let mut inv = Array2::eye(d);
    for col in 0..d {
        let pivot = (col..d).max_by(|&x, &y| a[[x, col]].abs().total_cmp(&a[[y, col]].abs()))?;
        if a[[pivot, col]].abs() < 1e-12 {
            return None;
        }
        swap_rows(&mut a, col, pivot);
        swap_rows(&mut inv, col, pivot);
        let p = a[[col, col]];
        a.row_mut(col).mapv_inplace(|v| v / p);
        inv.row_mut(col).mapv_inplace(|v| v / p);
        let (a_pivot, inv_pivot) = (a.row(col).to_owned(), inv.row(col).to_owned());
        for r in (0..d).filter(|&r| r != col) {
            let f = a[[r, col]];
            if f != 0.0 {
                for (v, &pv) in a.row_mut(r).iter_mut().zip(&a_pivot) {
                    *v -= f * pv;
                }
                for (v, &pv) in inv.row_mut(r).iter_mut().zip(&inv_pivot) {
                    *v -= f * pv;
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn inverse_of_a_known_matrix() {
        let inv = invert(arr2(&[[4.0, 2.0], [2.0, 3.0]]).view()).expect("invertible");
        let want = arr2(&[[0.375, -0.25], [-0.25, 0.5]]);
        for (g, w) in inv.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{inv:?}");
        }
        assert!(invert(arr2(&[[1.0, 2.0], [2.0, 4.0]]).view()).is_none());
    }

    #[test]
    fn solves_a_system_that_needs_a_pivot() {
        // The first pivot is zero: without row swaps elimination would divide by it.
        let a = arr2(&[[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [2.0, 0.0, 3.0]]);
        let x = solve(a, arr1(&[7.0, 3.0, 11.0])).expect("regular");
        for (g, w) in x.iter().zip([1.0, 2.0, 3.0]) {
            assert!((g - w).abs() < 1e-12, "{x:?}");
        }
        assert!(solve(arr2(&[[1.0, 2.0], [2.0, 4.0]]), arr1(&[1.0, 2.0])).is_none());
    }
}
