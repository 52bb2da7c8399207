package routing

import (
	"math"
	"sort"
)

// FitResult is a chi-square goodness-of-fit test of an observed split against configured
// weights (C7).
type FitResult struct {
	// Keys are the categories, sorted.
	Keys []string
	// Observed and Expected are shares in [0,1] per category.
	Observed  map[string]float64
	Expected  map[string]float64
	N         int64
	ChiSquare float64
	DF        int
	// PValue is the probability of a split at least this far from the weights if the
	// configuration were followed; small values (say < 0.001) mean it was not.
	PValue float64
}

// GoodnessOfFit tests observed counts per destination against configured weights (any scale),
// C7. Use it over a window in which every destination was healthy. A category observed but not
// configured gives p = 0; with fewer than two configured categories or no observations p = 1.
func GoodnessOfFit(observed map[string]int64, configured map[string]float64) FitResult {
	res := FitResult{Observed: map[string]float64{}, Expected: map[string]float64{}}
	keys := map[string]bool{}
	var wsum float64
	for k, w := range configured {
		keys[k] = true
		if w > 0 {
			wsum += w
		}
	}
	for k, n := range observed {
		keys[k] = true
		if n > 0 {
			res.N += n
		}
	}
	for k := range keys {
		res.Keys = append(res.Keys, k)
	}
	sort.Strings(res.Keys)
	res.PValue = 1
	cats := 0
	impossible := false
	for _, k := range res.Keys {
		var exp float64
		if wsum > 0 && configured[k] > 0 {
			exp = configured[k] / wsum
			cats++
		}
		res.Expected[k] = exp
		if res.N > 0 {
			res.Observed[k] = float64(max(observed[k], 0)) / float64(res.N)
		}
		if res.N == 0 {
			continue
		}
		o := float64(max(observed[k], 0))
		e := exp * float64(res.N)
		if e == 0 {
			if o > 0 {
				impossible = true
			}
			continue
		}
		res.ChiSquare += (o - e) * (o - e) / e
	}
	res.DF = cats - 1
	if res.N == 0 {
		return res
	}
	if impossible {
		res.ChiSquare = math.Inf(1)
		res.PValue = 0
		return res
	}
	if res.DF < 1 {
		return res
	}
	res.PValue = gammaQ(float64(res.DF)/2, res.ChiSquare/2)
	return res
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x).
func gammaQ(a, x float64) float64 {
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		// Series for P(a, x).
		sum, term, ap := 1/a, 1/a, a
		for n := 0; n < 1000; n++ {
			ap++
			term *= x / ap
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lg)
	}
	// Continued fraction for Q(a, x) (Lentz).
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}
