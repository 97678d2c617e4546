/*
 * ChatMasker: token ids of a rendered conversation and labels that take loss only on the assistant
 * turns - each assistant message's text plus the end-of-turn token the template writes after it
 * (<|im_end|> for Qwen/ChatML, <|eot_id|> for Llama 3, </s> for Zephyr-style templates).
 *
 * Method. The full conversation F = render(messages) is tokenized once, with each token's character
 * span (Tokenizer.encodeWithOffsets), exactly as HF's apply_chat_template(tokenize=True) tokenizes
 * it. Each trainable assistant message i is then located in F by character positions:
 *   start  = length of render(messages[:i], add_generation_prompt=True) - the prompt the model sees
 *            before it starts writing turn i; F must start with that text (templates are
 *            "prefix-stable"; one that is not raises an error naming the message);
 *   cEnd   = where the message's content ends: F is compared with a rendering in which only that
 *            content has a private-use sentinel (U+E000) appended; they agree up to the end of the
 *            content (this survives templates that |trim the content or add text after it);
 *   limit  = the length of the common prefix of F and render(messages[:i+1]) - where text that
 *            belongs to later messages (or to an unconditional trailer) begins;
 *   end    = the end of the first end-of-turn token starting in [cEnd, limit); when there is none,
 *            limit with trailing whitespace removed.
 * Tokens whose span overlaps [start, end) are labelled. End-of-turn tokens are the tokenizer's EOS
 * ids plus the special tokens <|im_end|>, <|eot_id|>, <|eom_id|>, <|end|>, <end_of_turn>,
 * <|endoftext|>, <|end_of_text|>, </s> when the vocabulary has them.
 *
 * Why not only prefixes: the Llama-3 template in /work/shared/tokenizers/llama3 appends the
 * assistant header "<|start_header_id|>assistant<|end_header_id|>\n\n" after every rendering,
 * whatever add_generation_prompt says, so render(messages[:i+1]) is not a prefix of F and its last
 * characters are not part of turn i; the end-of-turn token bounds the turn instead. The newline
 * ChatML writes after <|im_end|> is left unlabelled (the model stops at <|im_end|>).
 * Why not the template's {% generation %} blocks (HF return_assistant_tokens_mask): few shipped
 * templates have them; when present they render as their body and the method above still applies.
 *
 * Costs: 1 + 3 * (assistant messages) renders per conversation, one tokenization.
 * Constraints: a template failure or an unlocatable turn throws Sample.Malformed (reported with the
 * record's file and line, or skipped with skipMalformed).
 */
package dev.peft4j.data;

import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

final class ChatMasker {

    /** Special tokens that end a turn in common chat formats (used when the vocabulary has them). */
    static final List<String> END_OF_TURN_TOKENS = List.of(
            "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
            "<|end_of_text|>", "</s>");

    private static final String SENTINEL = "\uE000";

    private final ChatTemplate template;
    private final Tokenizer tok;
    private final Set<Integer> endOfTurn = new HashSet<>();

    ChatMasker(ChatTemplate template, Tokenizer tok) {
        this.template = template;
        this.tok = tok;
        endOfTurn.addAll(tok.eosIds());
        tok.eosId().ifPresent(endOfTurn::add);
        for (String t : END_OF_TURN_TOKENS) {
            OptionalInt id = tok.idOf(t);
            if (id.isPresent() && tok.isSpecial(id.getAsInt())) endOfTurn.add(id.getAsInt());
        }
    }

    /** The chat template. */
    ChatTemplate template() {
        return template;
    }

    /**
     * Ids of the rendered conversation and labels on the assistant turns at index >= firstTrainable
     * (on every token when allTokens).
     */
    Example encode(List<Map<String, Object>> messages, int firstTrainable, boolean allTokens) {
        String full = render(messages, false, -1);
        Tokenizer.Encoded enc = tok.encodeWithOffsets(full);
        int[] ids = enc.ids();
        if (ids.length == 0) throw new Sample.Malformed("the chat template rendered the conversation as empty text");
        if (allTokens) return Example.allTokens(ids);
        int[] labels = new int[ids.length];
        java.util.Arrays.fill(labels, Example.IGNORE);
        for (int i = Math.max(0, firstTrainable); i < messages.size(); i++) {
            if (!"assistant".equals(messages.get(i).get("role"))) continue;
            int[] span = assistantSpan(messages, i, full, enc);
            for (int k = 0; k < ids.length; k++) {
                int s = enc.starts()[k];
                int e = enc.ends()[k];
                boolean overlaps = e > s ? (e > span[0] && s < span[1]) : (s >= span[0] && s < span[1]);
                if (overlaps) labels[k] = ids[k];
            }
        }
        return new Example(ids, labels);
    }

    /** Character span [start, end) of assistant message i (content + end-of-turn) in the full rendering. */
    int[] assistantSpan(List<Map<String, Object>> messages, int i, String full, Tokenizer.Encoded enc) {
        String before = render(messages.subList(0, i), true, i);
        if (!full.startsWith(before)) {
            throw new Sample.Malformed("cannot locate assistant message [" + i + "]: the chat template's rendering "
                    + "of the first " + i + " messages with add_generation_prompt=True is not a prefix of the whole "
                    + "conversation (the template is not prefix-stable). Fix: set completionOnlyLoss=false, or pass "
                    + "a template that renders earlier turns the same way with DataConfig.chatTemplate");
        }
        int start = before.length();

        int cEnd = start;
        Object content = messages.get(i).get("content");
        if (content instanceof String text) {
            List<Map<String, Object>> marked = new ArrayList<>(messages);
            Map<String, Object> m = new LinkedHashMap<>(messages.get(i));
            m.put("content", text + SENTINEL);
            marked.set(i, m);
            String withSentinel = render(marked, false, i);
            int common = commonPrefix(full, withSentinel);
            int at = withSentinel.indexOf(SENTINEL, common);
            if (at < 0 || !withSentinel.substring(common, at).isBlank() || common < start) {
                throw new Sample.Malformed("cannot locate the content of assistant message [" + i + "] in the chat "
                        + "template's rendering (the template does not write it after the generation prompt). "
                        + "Fix: set completionOnlyLoss=false or pass another template with DataConfig.chatTemplate");
            }
            cEnd = common;
        }

        String upTo = render(messages.subList(0, i + 1), false, i);
        int limit = Math.max(cEnd, commonPrefix(full, upTo));

        int end = -1;
        for (int k = 0; k < enc.ids().length; k++) {
            int s = enc.starts()[k];
            if (s >= limit) break;
            if (s >= cEnd && endOfTurn.contains(enc.ids()[k])) {
                end = enc.ends()[k];
                break;
            }
        }
        if (end < 0) {
            end = limit;
            while (end > cEnd && Character.isWhitespace(full.charAt(end - 1))) end--;
        }
        return new int[] {start, end};
    }

    private String render(List<Map<String, Object>> messages, boolean addGenerationPrompt, int forMessage) {
        try {
            return template.render(messages, addGenerationPrompt);
        } catch (Peft4jException e) {
            throw new Sample.Malformed((forMessage >= 0 ? "while locating assistant message [" + forMessage + "]: " : "")
                    + e.getMessage());
        }
    }

    private static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length());
        int i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) i++;
        return i;
    }
}
