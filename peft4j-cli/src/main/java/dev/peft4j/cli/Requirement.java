/*
 * Requirement: one `peft4j check --require` condition, parsed from text.
 *
 * Grammar (spaces allowed around the parts):
 *   METRIC OP NUMBER                      e.g.  mc:acc>=0.6   forgetting<=0.1
 *   METRIC OP baseline [(+|-) NUMBER]     e.g.  mc:acc>=baseline-0.01   perplexity:perplexity<=baseline
 *   OP     = >= | > | <= | < | ==         (== holds within 1e-9 of the threshold, relative to its size)
 *   METRIC = a metric name as `peft4j eval` prints it (TASK:NAME, e.g. mc:acc, perplexity:nll), or
 *            forgetting / kl (drift from the base model on --reference text)
 * "baseline" is the same metric measured on the --baseline adapter.
 *
 * Constraints: immutable; parse() throws Peft4jException with the grammar and an example when the
 * text does not match.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A parsed condition.
 *
 * @param text      the condition as given
 * @param metric    the metric's name
 * @param op        the comparison
 * @param number    the threshold, or the offset added to the baseline's value when relative
 * @param relative  true: the threshold is baseline + number
 */
record Requirement(String text, String metric, Op op, double number, boolean relative) {

    enum Op {
        GE(">="), GT(">"), LE("<="), LT("<"), EQ("==");

        final String symbol;

        Op(String symbol) { this.symbol = symbol; }

        boolean holds(double value, double threshold) {
            if (Double.isNaN(value) || Double.isNaN(threshold)) return false;
            return switch (this) {
                case GE -> value >= threshold;
                case GT -> value > threshold;
                case LE -> value <= threshold;
                case LT -> value < threshold;
                case EQ -> Math.abs(value - threshold) <= 1e-9 * Math.max(1, Math.abs(threshold));
            };
        }

        static Op of(String s) {
            for (Op o : values()) if (o.symbol.equals(s)) return o;
            throw new IllegalArgumentException(s);
        }
    }

    static final String GRAMMAR = "METRIC OP NUMBER or METRIC OP baseline[+|-NUMBER], OP one of >= > <= < ==, "
            + "e.g. \"mc:acc>=0.6\", \"forgetting<=0.1\", \"mc:acc>=baseline-0.01\"";

    private static final String NUMBER = "[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?";
    private static final Pattern SYNTAX = Pattern.compile("\\s*([^\\s<>=]+)\\s*(>=|<=|==|>|<)\\s*(?:(" + NUMBER
            + ")|baseline\\s*(?:([+-])\\s*(\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?))?)\\s*");

    static Requirement parse(String text) {
        Matcher m = SYNTAX.matcher(text == null ? "" : text);
        if (!m.matches()) {
            throw new Peft4jException("--require \"" + text + "\" is not a condition; expected " + GRAMMAR);
        }
        Op op = Op.of(m.group(2));
        if (m.group(3) != null) {
            double v = Double.parseDouble(m.group(3));
            if (!Double.isFinite(v)) throw new Peft4jException("--require \"" + text + "\": the number must be finite");
            return new Requirement(text.strip(), m.group(1), op, v, false);
        }
        double offset = m.group(5) == null ? 0 : Double.parseDouble(m.group(5)) * (m.group(4).equals("-") ? -1 : 1);
        if (!Double.isFinite(offset)) throw new Peft4jException("--require \"" + text + "\": the number must be finite");
        return new Requirement(text.strip(), m.group(1), op, offset, true);
    }

    /** The threshold: number, or baseline + number. */
    double threshold(double baseline) {
        return relative ? baseline + number : number;
    }

    /** "baseline - 0.01 = 0.8600" or "0.6". */
    String thresholdText(double baseline) {
        if (!relative) return fmt(number);
        String off = number == 0 ? "" : (number < 0 ? " - " : " + ") + fmt(Math.abs(number));
        return "baseline " + fmt(baseline) + off + (number == 0 ? "" : " = " + fmt(baseline + number));
    }

    static String fmt(double v) {
        if (Double.isNaN(v)) return "NaN";
        if (v == Math.rint(v) && Math.abs(v) < 1e6) return String.format(Locale.ROOT, "%.0f", v);
        return String.format(Locale.ROOT, Math.abs(v) >= 1e-3 ? "%.4f" : "%.3g", v).replaceAll("(\\.\\d*?)0+$", "$1").replaceAll("\\.$", "");
    }
}
