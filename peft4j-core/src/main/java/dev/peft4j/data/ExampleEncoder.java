/*
 * ExampleEncoder: turns a validated Sample into token ids and labels (not yet truncated).
 *
 *   text:              [BOS] + encode(text) + [EOS]                  loss on every token
 *   prompt/completion: [BOS] + encode(prompt + completion) + [EOS], loss after len([BOS] + encode(prompt))
 *                      loss on the completion and EOS (every token when completionOnlyLoss=false)
 *   alpaca:            prompt/completion with prompt = ALPACA_PROMPT(instruction, input), completion = output
 *   messages:          the chat template's rendering, tokenized once; loss on assistant turns (ChatMasker)
 *
 * [BOS] is added when the tokenizer adds one itself (Tokenizer.addsBos(), HF add_special_tokens=True);
 * [EOS] is the tokenizer's eos_token, added when DataConfig.addEos is set (TRL appends eos_token
 * to completions and texts the same way). Chats get neither: the template writes its own BOS and
 * end-of-turn tokens, and HF tokenizes the rendered chat with add_special_tokens=False.
 *
 * Prompt and completion are tokenized as TRL's SFTTrainer does (tokenize_fn, prompt-completion
 * case): the prompt alone and prompt+completion jointly, with the loss on the joint sequence's
 * tokens after the first len(tokenize(prompt)). Tokenizing jointly keeps the seam natural — a
 * SentencePiece tokenizer (Llama 2) does not start the completion with a second "▁" word prefix, as
 * it would if the completion were tokenized on its own. Where text on both sides of the seam merges
 * into one token (prompt "2+2=" + completion "4" -> "=4"), the boundary still falls after
 * len(tokenize(prompt)) tokens, as in TRL (which warns about it).
 *
 * Constraints: stateless apart from the lazily created chat masker; failures of the chat template
 * surface as Sample.Malformed so the caller can report or skip the record.
 */
package dev.peft4j.data;

import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

final class ExampleEncoder {

    /**
     * The Alpaca prompt when the record has an input. Our own wording in the "### Section:" layout
     * Alpaca-style datasets are usually trained with; the completion (output) follows directly.
     */
    static final String ALPACA_PROMPT_WITH_INPUT =
            "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";

    /** The Alpaca prompt when the input is empty or blank: the input section is left out. */
    static final String ALPACA_PROMPT_NO_INPUT =
            "### Instruction:\n{instruction}\n\n### Response:\n";

    private final Tokenizer tok;
    private final DataConfig cfg;
    private final Path templateDir;
    private ChatMasker masker;

    ExampleEncoder(Tokenizer tok, DataConfig cfg, Path templateDir) {
        this.tok = tok;
        this.cfg = cfg;
        this.templateDir = templateDir;
    }

    /** The Alpaca prompt for an instruction and (possibly empty) input. */
    static String alpacaPrompt(String instruction, String input) {
        // replace() substitutes literally, so braces or dollar signs in the data are kept as they are
        if (input == null || input.isBlank()) return ALPACA_PROMPT_NO_INPUT.replace("{instruction}", instruction);
        int cut = ALPACA_PROMPT_WITH_INPUT.indexOf("{input}");
        return ALPACA_PROMPT_WITH_INPUT.substring(0, cut).replace("{instruction}", instruction)
                + input + ALPACA_PROMPT_WITH_INPUT.substring(cut + "{input}".length());
    }

    Example encode(Sample s) {
        return switch (s) {
            case Sample.Text t -> text(t.text());
            case Sample.PromptCompletion pc -> promptCompletion(pc.prompt(), pc.completion());
            case Sample.Alpaca a -> promptCompletion(alpacaPrompt(a.instruction(), a.input()), a.output());
            case Sample.Chat c -> masker().encode(c.messages(), c.firstTrainable(), !cfg.completionOnlyLoss());
        };
    }

    private Example text(String text) {
        int[] body = tok.encode(text);
        int[] ids = concat(bos(), body, eos());
        if (ids.length == 0) throw new Sample.Malformed("field \"text\" is empty and no BOS/EOS is added; nothing to train on");
        return Example.allTokens(ids);
    }

    private Example promptCompletion(String prompt, String completion) {
        int promptLength = bos().length + tok.encode(prompt).length;
        int[] ids = concat(bos(), tok.encode(prompt + completion), eos());
        if (ids.length == 0) throw new Sample.Malformed("prompt and completion are both empty; nothing to train on");
        int[] labels = ids.clone();
        if (cfg.completionOnlyLoss()) Arrays.fill(labels, 0, Math.min(promptLength, ids.length), Example.IGNORE);
        return new Example(ids, labels);
    }

    private int[] bos() {
        return tok.addsBos() && tok.bosId().isPresent() ? new int[] {tok.bosId().getAsInt()} : new int[0];
    }

    private int[] eos() {
        return cfg.addEos() && tok.eosId().isPresent() ? new int[] {tok.eosId().getAsInt()} : new int[0];
    }

    private static int[] concat(int[] a, int[] b, int[] c) {
        int[] out = new int[a.length + b.length + c.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        System.arraycopy(c, 0, out, a.length + b.length, c.length);
        return out;
    }

    /** bos_token / eos_token / pad_token as the tokenizer knows them, for templates without a tokenizer_config.json. */
    private Map<String, Object> tokenizerSpecials() {
        Map<String, Object> m = new HashMap<>();
        tok.bosId().ifPresent(id -> m.put("bos_token", tok.tokenText(id)));
        tok.eosId().ifPresent(id -> m.put("eos_token", tok.tokenText(id)));
        tok.padId().ifPresent(id -> m.put("pad_token", tok.tokenText(id)));
        return m;
    }

    private ChatMasker masker() {
        if (masker == null) {
            ChatTemplate template;
            try {
                template = ChatTemplate.fromModelDir(templateDir, cfg.chatTemplate());
            } catch (Peft4jException e) {
                // a missing or broken template is not the record's fault: fail the whole load
                throw new DataFormatException("cannot render chat records: " + e.getMessage(), e);
            }
            masker = new ChatMasker(template.withSpecialTokenDefaults(tokenizerSpecials()), tok);
        }
        return masker;
    }
}
