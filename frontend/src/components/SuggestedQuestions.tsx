// An empty chat's one-click questions, set per assistant (Assistant.suggested_questions).
export function SuggestedQuestions({ questions, onPick }: { questions: string[] | undefined; onPick: (question: string) => void }) {
  if (!questions?.length) return null;
  return (
    <div className="suggested-questions" role="group" aria-label="Suggested questions" data-testid="suggested-questions">
      {questions.map((question) => (
        <button key={question} type="button" className="btn btn-sm" onClick={() => onPick(question)}>
          {question}
        </button>
      ))}
    </div>
  );
}
