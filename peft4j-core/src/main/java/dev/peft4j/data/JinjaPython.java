/*
 * JinjaPython: what HuggingFace's chat-template environment has and plain Jinjava lacks, so that
 * templates written for Python's jinja2 (transformers' chat_template_utils / tokenization_utils_base
 * `_compile_jinja_template`) render the same on the JVM:
 *   - Python str methods called on strings: strip/lstrip/rstrip([chars]), startswith/endswith
 *     (str or tuple), split/rsplit([sep[, maxsplit]]), splitlines, upper, lower, title, capitalize,
 *     replace(old, new[, count]), find/rfind, count, join, removeprefix/removesuffix, isspace,
 *     isdigit, isalpha, isalnum, isupper, islower; and s[i] with negative i;
 *   - the functions HF registers: raise_exception(msg) (aborts the render with msg) and
 *     strftime_now(fmt) (today's date, Python strftime codes);
 *   - the tojson filter as HF defines it: json.dumps(x, ensure_ascii=False, indent=..., sort_keys=...)
 *     with Python's separators (", " and ": "), where Jinjava's own tojson writes compact JSON;
 *   - trim as Python's str.strip (Unicode whitespace, optional chars argument);
 *   - length / count of a string in code points (Python len), not UTF-16 units;
 *   - the {% generation %} ... {% endgeneration %} block (HF's AssistantTracker extension), rendered
 *     as its body.
 *
 * Known gaps (Jinjava 2.8.2): extended slices with a step (messages[::-1]) do not parse; `none`
 * inside a list/dict literal does not parse; booleans print as true/false (Python: True/False) and
 * lists print with Java-style string escapes - chat templates do not print either; Python
 * dict/list methods beyond what Jinjava's PyMap/PyList offer (items, keys, values, get, append, ...)
 * are missing; float formatting in tojson follows Python's repr only for the common cases.
 *
 * Constraints: no reflection registries - the str methods are one explicit switch. raise_exception
 * records its message in a thread-local that ChatTemplate reads after each render, because Jinjava
 * reports a failing function as a template error and keeps rendering.
 */
package dev.peft4j.data;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.math.BigDecimal;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

final class JinjaPython {
    private JinjaPython() {}

    // ---------------------------------------------------------------- raise_exception / strftime_now

    private static final ThreadLocal<String> RAISED = new ThreadLocal<>();

    /** The message of the raise_exception call made during the current render, if any; clears it. */
    static String takeRaised() {
        String m = RAISED.get();
        RAISED.remove();
        return m;
    }

    /** HF's raise_exception(message): recorded, then thrown so that Jinjava stops evaluating the expression. */
    public static Object raiseException(Object message) {
        String m = String.valueOf(message);
        if (RAISED.get() == null) RAISED.set(m);
        throw new IllegalStateException("raise_exception: " + m);
    }

    /** HF's strftime_now(format): the current local time formatted with Python strftime codes. */
    public static String strftimeNow(String format) {
        return strftime(LocalDateTime.now(), format);
    }

    static String strftime(LocalDateTime t, String format) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                sb.append(c);
                continue;
            }
            char f = format.charAt(++i);
            switch (f) {
                case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
                case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
                case 'Y' -> sb.append(t.getYear());
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'H' -> sb.append(String.format("%02d", t.getHour()));
                case 'I' -> sb.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'M' -> sb.append(String.format("%02d", t.getMinute()));
                case 'S' -> sb.append(String.format("%02d", t.getSecond()));
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
                case 'b' -> sb.append(cap(t.getMonth().name().substring(0, 3)));
                case 'B' -> sb.append(cap(t.getMonth().name()));
                case 'a' -> sb.append(cap(t.getDayOfWeek().name().substring(0, 3)));
                case 'A' -> sb.append(cap(t.getDayOfWeek().name()));
                case '%' -> sb.append('%');
                default -> sb.append('%').append(f);
            }
        }
        return sb.toString();
    }

    private static String cap(String upper) {
        return upper.charAt(0) + upper.substring(1).toLowerCase(Locale.ROOT);
    }

    // ---------------------------------------------------------------- Python str methods

    /** Jinjava's default resolver with Python str methods (and negative string indexing) in front. */
    static ELResolver resolver(ELResolver fallback) {
        CompositeELResolver r = new CompositeELResolver();
        r.add(new PyStrResolver());
        r.add(fallback);
        return r;
    }

    /** Resolves method calls (and integer indexing) on java.lang.String the way Python's str does. */
    static final class PyStrResolver extends ELResolver {
        @Override
        public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
            if (!(base instanceof String s) || method == null) return null;
            Object[] p = params == null ? new Object[0] : params;
            Object result = call(s, method.toString(), p);
            if (result == NOT_HANDLED) return null;
            context.setPropertyResolved(true);
            return result;
        }

        @Override
        public Object getValue(ELContext context, Object base, Object property) {
            if (base instanceof String s && index(property) != null) {
                long i = index(property);
                if (i < 0) i += s.length();
                if (i < 0 || i >= s.length()) return null;   // Jinja: undefined
                context.setPropertyResolved(true);
                return String.valueOf(s.charAt((int) i));
            }
            return null;
        }

        /** An integer subscript (Jinjava passes s[-1] as the string "-1"), else null. */
        private static Long index(Object property) {
            if (property instanceof Number n) return n.longValue();
            if (property instanceof String p && p.matches("-?\\d{1,18}")) return Long.parseLong(p);
            return null;
        }

        @Override public Class<?> getType(ELContext c, Object base, Object property) { return null; }
        @Override public void setValue(ELContext c, Object base, Object property, Object value) {}
        @Override public boolean isReadOnly(ELContext c, Object base, Object property) { return true; }
        @Override public Iterator<java.beans.FeatureDescriptor> getFeatureDescriptors(ELContext c, Object base) { return null; }
        @Override public Class<?> getCommonPropertyType(ELContext c, Object base) { return null; }
    }

    private static final Object NOT_HANDLED = new Object();

    /** s.name(args) with Python semantics; NOT_HANDLED for names Python's str does not have here. */
    static Object call(String s, String name, Object[] a) {
        return switch (name) {
            case "strip" -> stripChars(s, arg(a, 0), true, true);
            case "lstrip" -> stripChars(s, arg(a, 0), true, false);
            case "rstrip" -> stripChars(s, arg(a, 0), false, true);
            case "startswith" -> affix(s, a, true);
            case "endswith" -> affix(s, a, false);
            case "split" -> split(s, arg(a, 0), a.length > 1 ? toInt(a[1]) : -1);
            case "rsplit" -> rsplit(s, arg(a, 0), a.length > 1 ? toInt(a[1]) : -1);
            case "splitlines" -> new ArrayList<>(s.lines().toList());
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "replace" -> replace(s, str(a, 0), str(a, 1), a.length > 2 ? toInt(a[2]) : -1);
            case "find" -> s.indexOf(str(a, 0));
            case "rfind" -> s.lastIndexOf(str(a, 0));
            case "count" -> count(s, str(a, 0));
            case "join" -> join(s, a.length > 0 ? a[0] : null);
            case "removeprefix" -> s.startsWith(str(a, 0)) ? s.substring(str(a, 0).length()) : s;
            case "removesuffix" -> s.endsWith(str(a, 0)) && !str(a, 0).isEmpty()
                    ? s.substring(0, s.length() - str(a, 0).length()) : s;
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(Character::isWhitespace);
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
            case "isupper" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toLowerCase(Locale.ROOT));
            default -> NOT_HANDLED;
        };
    }

    private static String arg(Object[] a, int i) {
        return a.length > i && a[i] != null ? a[i].toString() : null;
    }

    private static String str(Object[] a, int i) {
        if (a.length <= i || a[i] == null) {
            throw new IllegalArgumentException("missing string argument " + (i + 1));
        }
        return a[i].toString();
    }

    private static int toInt(Object o) {
        return o instanceof Number n ? n.intValue() : Integer.parseInt(o.toString());
    }

    /** Python's str.isspace() for one char: Java whitespace, every Unicode space separator (incl. NBSP), and NEL. */
    static boolean isPyWhitespace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    private static String stripChars(String s, String chars, boolean left, boolean right) {
        int b = 0;
        int e = s.length();
        if (left) while (b < e && (chars == null ? isPyWhitespace(s.charAt(b)) : chars.indexOf(s.charAt(b)) >= 0)) b++;
        if (right) while (e > b && (chars == null ? isPyWhitespace(s.charAt(e - 1)) : chars.indexOf(s.charAt(e - 1)) >= 0)) e--;
        return s.substring(b, e);
    }

    private static boolean affix(String s, Object[] a, boolean prefix) {
        if (a.length == 0 || a[0] == null) throw new IllegalArgumentException("startswith/endswith needs an argument");
        List<String> options = new ArrayList<>();
        if (a[0] instanceof Collection<?> c) for (Object o : c) options.add(String.valueOf(o));
        else if (a[0] instanceof Object[] arr) for (Object o : arr) options.add(String.valueOf(o));
        else options.add(a[0].toString());
        String t = s;
        if (a.length > 1 && a[1] != null) {
            int start = toInt(a[1]);
            if (start < 0) start = Math.max(0, start + s.length());
            t = start >= s.length() ? "" : s.substring(start);
        }
        for (String o : options) if (prefix ? t.startsWith(o) : t.endsWith(o)) return true;
        return false;
    }

    /** Python str.split: no separator splits on whitespace runs and drops empty parts; a separator is literal. */
    static List<String> split(String s, String sep, int maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isPyWhitespace(s.charAt(i))) i++;
                if (i == n) break;
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(stripChars(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isPyWhitespace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
        int from = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int k = s.indexOf(sep, from);
            if (k < 0) break;
            out.add(s.substring(from, k));
            from = k + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    static List<String> rsplit(String s, String sep, int maxsplit) {
        if (maxsplit < 0) return split(s, sep, -1);
        if (sep == null) {
            List<String> parts = split(s, null, -1);
            if (parts.size() <= maxsplit + 1) return parts;
            // keep the last maxsplit words; the rest (with its inner whitespace) is the head
            int keep = maxsplit;
            int e = s.length();
            List<String> tail = new ArrayList<>();
            for (int w = 0; w < keep; w++) {
                while (e > 0 && isPyWhitespace(s.charAt(e - 1))) e--;
                int b = e;
                while (b > 0 && !isPyWhitespace(s.charAt(b - 1))) b--;
                tail.add(0, s.substring(b, e));
                e = b;
            }
            List<String> out = new ArrayList<>();
            out.add(stripChars(s.substring(0, e), null, true, true));
            out.addAll(tail);
            return out;
        }
        if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
        List<String> out = new ArrayList<>();
        int to = s.length();
        while (out.size() < maxsplit) {
            int k = s.lastIndexOf(sep, to - sep.length());
            if (k < 0) break;
            out.add(0, s.substring(k + sep.length(), to));
            to = k;
        }
        out.add(0, s.substring(0, to));
        return out;
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isLetter(c)) {
                sb.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
                prevCased = true;
            } else {
                sb.append(c);
                prevCased = false;
            }
        }
        return sb.toString();
    }

    private static String replace(String s, String old, String neu, int count) {
        if (count < 0) return s.replace(old, neu);
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (int n = 0; n < count; n++) {
            int k = s.indexOf(old, from);
            if (k < 0) break;
            sb.append(s, from, k).append(neu);
            from = k + old.length();
            if (old.isEmpty()) {
                if (from < s.length()) sb.append(s.charAt(from));
                from++;
                if (from > s.length()) break;
            }
        }
        if (from <= s.length()) sb.append(s.substring(Math.min(from, s.length())));
        return sb.toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        int n = 0;
        for (int k = s.indexOf(sub); k >= 0; k = s.indexOf(sub, k + sub.length())) n++;
        return n;
    }

    private static String join(String sep, Object items) {
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) for (Object o : it) parts.add(String.valueOf(o));
        else if (items instanceof Object[] arr) for (Object o : arr) parts.add(String.valueOf(o));
        else if (items instanceof String str) for (char c : str.toCharArray()) parts.add(String.valueOf(c));
        else throw new IllegalArgumentException("join expects a list (got " + items + ")");
        return String.join(sep, parts);
    }

    // ---------------------------------------------------------------- tojson

    /** HF's tojson: json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=sort_keys). */
    static final class ToJsonFilter implements Filter {
        @Override
        public String getName() { return "tojson"; }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            Integer indent = args.length > 0 && args[0] != null ? Integer.valueOf(args[0]) : null;
            return toJson(var, indent, false);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object ind = kwargs.containsKey("indent") ? kwargs.get("indent") : (args.length > 0 ? args[0] : null);
            Integer indent = ind == null ? null : toInt(ind);
            boolean sortKeys = Boolean.TRUE.equals(kwargs.get("sort_keys"));
            return toJson(var, indent, sortKeys);
        }
    }

    /** Python json.dumps output (ensure_ascii=False); indent null: one line with ", " and ": ". */
    static String toJson(Object value, Integer indent, boolean sortKeys) {
        StringBuilder sb = new StringBuilder();
        writeJson(sb, value, indent, sortKeys, 0);
        return sb.toString();
    }

    private static void writeJson(StringBuilder sb, Object v, Integer indent, boolean sortKeys, int depth) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (v instanceof Double || v instanceof Float || v instanceof BigDecimal) {
            sb.append(pyFloat(((Number) v).doubleValue()));
        } else if (v instanceof Number n) {
            sb.append(n);
        } else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            Map<?, ?> entries = sortKeys ? new TreeMap<>(stringKeys(m)) : m;
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : entries.entrySet()) {
                if (!first) sb.append(indent == null ? ", " : ",");
                first = false;
                newline(sb, indent, depth + 1);
                writeString(sb, String.valueOf(e.getKey()));
                sb.append(": ");
                writeJson(sb, e.getValue(), indent, sortKeys, depth + 1);
            }
            newline(sb, indent, depth);
            sb.append('}');
        } else if (v instanceof Iterable<?> || v instanceof Object[]) {
            Iterable<?> it = v instanceof Object[] arr ? Arrays.asList(arr) : (Iterable<?>) v;
            Iterator<?> i = it.iterator();
            if (!i.hasNext()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            boolean first = true;
            while (i.hasNext()) {
                if (!first) sb.append(indent == null ? ", " : ",");
                first = false;
                newline(sb, indent, depth + 1);
                writeJson(sb, i.next(), indent, sortKeys, depth + 1);
            }
            newline(sb, indent, depth);
            sb.append(']');
        } else {
            writeString(sb, v.toString());
        }
    }

    private static Map<String, Object> stringKeys(Map<?, ?> m) {
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) out.put(String.valueOf(e.getKey()), e.getValue());
        return out;
    }

    private static void newline(StringBuilder sb, Integer indent, int depth) {
        if (indent == null) return;
        sb.append('\n').append(" ".repeat(indent * depth));
    }

    private static void writeString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    /** Python's repr of a float: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
    static String pyFloat(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        double a = Math.abs(d);
        if (a >= 1e-4 && a < 1e16) {
            String plain = bd.toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        String digits = bd.unscaledValue().abs().toString();
        int exp = digits.length() - 1 - bd.scale();
        String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return (d < 0 ? "-" : "") + mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
    }

    // ---------------------------------------------------------------- trim

    /** Jinja's trim(chars=None) = Python str.strip: Unicode whitespace (Jinjava trims only chars <= U+0020). */
    static final class TrimFilter implements Filter {
        @Override
        public String getName() { return "trim"; }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var == null) return "";
            return stripChars(var.toString(), args.length > 0 ? args[0] : null, true, true);
        }
    }

    // ---------------------------------------------------------------- length

    /** Jinja's length / count: strings count Unicode code points as Python's len() does (Jinjava counts UTF-16 units). */
    static final class LengthFilter implements Filter {
        private static final Filter JINJAVA = new com.hubspot.jinjava.lib.filter.LengthFilter();
        private final String name;

        LengthFilter(String name) { this.name = name; }

        @Override
        public String getName() { return name; }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var instanceof String s) return s.codePointCount(0, s.length());
            return JINJAVA.filter(var, interpreter, args);
        }
    }

    // ---------------------------------------------------------------- {% generation %}

    /** HF's {% generation %}...{% endgeneration %} (marks assistant text for return_assistant_tokens_mask): renders its body. */
    static final class GenerationTag implements Tag {
        @Override
        public String getName() { return "generation"; }

        @Override
        public String getEndTagName() { return "endgeneration"; }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder sb = new StringBuilder();
            for (Node child : tagNode.getChildren()) sb.append(child.render(interpreter).getValue());
            return sb.toString();
        }
    }
}
