import { InlineMarkdown } from "./markdown";

// The source panel's passage with the sentences an answer drew on for one citation marked.

const SENTENCE_END = /(?<=[.!?…。！？])\s+|\n+/;
const WORD = /[\p{L}\p{N}]{3,}/gu;

function words(text: string): Set<string> {
  return new Set((text.toLowerCase().match(WORD) ?? []).filter((word) => !/^\d+$/.test(word)));
}

/** The answer's sentences that cite source `index` ("[2]"), citation markers removed. */
export function citingText(answer: string, index: number): string {
  const marker = `[${index}]`;
  return answer
    .split(SENTENCE_END)
    .filter((sentence) => sentence.includes(marker))
    .join(" ")
    .replace(/\[\d+\]/g, " ");
}

/** The passage cut into sentences, each flagged when the citing text says the same thing
 * (most of its words are in it). At least the best match is flagged when it is close. */
export function citedSentences(passage: string, answer: string, index: number): Array<{ text: string; cited: boolean }> {
  const cited = words(citingText(answer, index));
  const parts = passage.split(/(?<=[.!?…。！？])(\s+)/);
  const sentences: string[] = [];
  for (const part of parts) {
    if (!part) continue;
    if (/^\s+$/.test(part) && sentences.length) sentences[sentences.length - 1] += part;
    else sentences.push(part);
  }
  if (!cited.size) return sentences.map((text) => ({ text, cited: false }));
  const overlap = sentences.map((text) => {
    const own = words(text);
    if (!own.size) return 0;
    let shared = 0;
    own.forEach((word) => {
      if (cited.has(word)) shared += 1;
    });
    return shared >= 3 || shared === own.size ? shared / own.size : 0;
  });
  const best = Math.max(0, ...overlap);
  return sentences.map((text, i) => ({ text, cited: overlap[i] >= 0.6 || (overlap[i] === best && best >= 0.3) }));
}

export function CitedPassage({ text, answer, index }: { text: string; answer?: string; index: number }) {
  const sentences = answer ? citedSentences(text, answer, index) : [{ text, cited: false }];
  return (
    <>
      {sentences.map((sentence, i) =>
        sentence.cited ? (
          <mark key={i} data-testid="cited-span">
            <InlineMarkdown text={sentence.text} />
          </mark>
        ) : (
          <span key={i}>
            <InlineMarkdown text={sentence.text} />
          </span>
        ),
      )}
    </>
  );
}
