package accuracy

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Print writes the results as a table: pairwise precision, recall and F1 at the block and warn
// levels, and for the prevention replay the recall and the negative control's false-block rate.
func Print(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dataset\tmode\trows\ttrue pairs\tlevel\tprecision\trecall\tF1\tTP\tFP\tFN\tcand/check\ttime\t")
	for _, r := range results {
		type level struct {
			name string
			m    Metrics
		}
		levels := []level{{"block", r.Block}, {"warn", r.Warn}, {fmt.Sprintf("best@%.3f", r.BestThreshold), r.Best}}
		if r.Clustered != nil {
			levels = append(levels, level{"block+groups", *r.Clustered})
		}
		for _, lv := range levels {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%.4f\t%.4f\t%.4f\t%d\t%d\t%d\t%.1f\t%s\t\n",
				r.Name, r.Mode, r.Rows, r.TruePairs, lv.name,
				lv.m.Precision(), lv.m.Recall(), lv.m.F1(), lv.m.TP, lv.m.FP, lv.m.FN,
				r.Candidates, r.Elapsed.Round(1e6))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nblock/warn: pairs scored at or above the rule's block/warn threshold; best@t: the best F1 over")
	fmt.Fprintln(w, "all thresholds (how published figures are quoted); block+groups: block-level pairs closed")
	fmt.Fprintln(w, "transitively, as an import scan groups rows. cand/check: candidates the index returned per")
	fmt.Fprintln(w, "check.")
	for _, r := range results {
		fmt.Fprintf(w, "%s: %.1f index keys per record\n", r.Name, r.KeysPerRecord)
	}
	for _, r := range results {
		if r.Mode != "prevention" {
			continue
		}
		fmt.Fprintf(w, "\n%s prevention replay (index %d rows, check %d):\n", r.Name, r.Indexed, r.Rows)
		fmt.Fprintf(w, "  recall at block level: %.4f (%d/%d rows blocked with their true match)\n", r.PreventionRecall(), r.CaughtBlock, r.Rows)
		fmt.Fprintf(w, "  recall at warn level:  %.4f (%d/%d)\n", r.PreventionRecallWarn(), r.CaughtWarn, r.Rows)
		fmt.Fprintf(w, "  negative control (true match removed from the index):\n")
		fmt.Fprintf(w, "    false-block rate: %.4f (%d/%d rows still blocked)\n", r.FalseBlockRate(), r.FalseBlocks, r.ControlRows)
		fmt.Fprintf(w, "    false-warn rate:  %.4f (%d/%d rows still warned)\n", r.FalseWarnRate(), r.FalseWarns, r.ControlRows)
	}
	for _, r := range results {
		if len(r.Examples) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d examples of wrong pairs\n", r.Name, len(r.Examples))
		for _, ex := range r.Examples {
			fmt.Fprintf(w, "- %s [%s] score %.3f\n    %s %v\n    %s %v\n", ex.Kind, ex.Rule, ex.Score, ex.Checked.ID, ex.Checked.Attrs, ex.Other.ID, ex.Other.Attrs)
			for _, f := range ex.Fields {
				fmt.Fprintf(w, "    %s %.3f %s\n", f.Attr, f.Similarity, f.Note)
			}
			if len(ex.Reasons) > 0 {
				fmt.Fprintf(w, "    reasons: %s\n", strings.Join(ex.Reasons, "; "))
			}
		}
	}
	misses := Misses(results)
	fmt.Fprintln(w)
	if len(misses) == 0 {
		fmt.Fprintln(w, "targets (issue 3): all met")
	} else {
		fmt.Fprintln(w, "targets (issue 3) NOT met: "+strings.Join(misses, "; "))
	}
}
