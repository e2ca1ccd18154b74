"""Retrieval evaluation of a collection: thin views over knowledge_base.evaluation."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from audit.services import Actor
from core.api.parsers import JSONParser
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from knowledge_base import selectors as collection_selectors
from knowledge_base.api import evaluation_serializers as s
from knowledge_base.evaluation import drafting, parsing, selectors, services


def _collection(collection_id):
    return collection_selectors.collection_get(collection_id=collection_id)


class QuestionListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "knowledge"
    serializer_class = s.EvaluationQuestionOutputSerializer

    def get_queryset(self):
        return selectors.question_list(collection=_collection(self.kwargs["collection_id"]))

    @extend_schema(operation_id="evaluation_questions_list")
    def get(self, request, collection_id):
        return self.list(request)

    @extend_schema(
        request=s.EvaluationQuestionInputSerializer,
        responses={201: s.EvaluationQuestionOutputSerializer},
        description="A test question and the documents (by id or exact title) that answer it.",
    )
    def post(self, request, collection_id):
        collection = _collection(collection_id)
        data = s.EvaluationQuestionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = services.question_create(
            collection=collection,
            text=data.validated_data["text"],
            documents=[
                services.DocumentReference(d["document"], d["grade"])
                for d in data.validated_data["documents"]
            ],
            user=request.user,
            actor=Actor.from_request(request),
        )
        question = selectors.question_get(collection=collection, question_id=question.pk)
        return Response(s.EvaluationQuestionOutputSerializer(question).data, status=201)


class QuestionUploadView(OrganizationAPIView):
    api_scope = "knowledge"
    # JSON too, so another body type is a field error after the collection is found (a
    # parser refusal first would tell another organization the path exists).
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": s.EvaluationQuestionUploadSerializer},
        responses={201: s.EvaluationQuestionUploadResponseSerializer},
        description=(
            "Upload test questions as CSV or JSONL: all are stored, or none with the lines "
            "at fault as field errors on `file`; 413 above 2 MB."
        ),
    )
    def post(self, request, collection_id):
        collection = _collection(collection_id)
        data = s.EvaluationQuestionUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > parsing.MAX_BYTES:  # before reading it into memory
            raise parsing.PayloadTooLarge(
                f"{upload.name} is {upload.size:,} bytes; the limit is {parsing.MAX_BYTES:,} bytes."
            )
        questions = services.questions_upload(
            collection=collection,
            name=upload.name,
            data=upload.read(),
            user=request.user,
            actor=Actor.from_request(request),
        )
        return Response({"created": len(questions)}, status=201)


class QuestionDraftView(OrganizationAPIView):
    api_scope = "knowledge"

    @extend_schema(
        request=s.EvaluationDraftInputSerializer,
        responses={201: s.EvaluationDraftResponseSerializer},
        description=(
            "Draft test questions with a chat model from the collection's passages (one model "
            "call each, at most 10): stored unapproved, for a person to review."
        ),
    )
    def post(self, request, collection_id):
        collection = _collection(collection_id)
        data = s.EvaluationDraftInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        drafted = drafting.questions_draft(
            collection=collection,
            user=request.user,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        ids = [q.pk for q in drafted]
        questions = selectors.question_list(collection=collection).filter(pk__in=ids)
        return Response(
            {"results": s.EvaluationQuestionOutputSerializer(questions, many=True).data}, status=201
        )


class QuestionDetailView(OrganizationAPIView):
    api_scope = "knowledge"

    def _get(self, collection_id, question_id):
        return selectors.question_get(
            collection=_collection(collection_id), question_id=question_id
        )

    @extend_schema(responses=s.EvaluationQuestionOutputSerializer)
    def get(self, request, collection_id, question_id):
        return Response(
            s.EvaluationQuestionOutputSerializer(self._get(collection_id, question_id)).data
        )

    @extend_schema(
        request=s.EvaluationQuestionReviewSerializer,
        responses=s.EvaluationQuestionOutputSerializer,
        description="A person's review: correct the wording, approve (it then counts in runs).",
    )
    def patch(self, request, collection_id, question_id):
        question = self._get(collection_id, question_id)
        data = s.EvaluationQuestionReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        drafting.question_review(
            question=question, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(
            s.EvaluationQuestionOutputSerializer(self._get(collection_id, question_id)).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request, collection_id, question_id):
        services.question_delete(
            question=self._get(collection_id, question_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "knowledge"
    serializer_class = s.EvaluationRunOutputSerializer
    parser_classes = [JSONParser]

    def get_queryset(self):
        return selectors.run_list(collection=_collection(self.kwargs["collection_id"]))

    @extend_schema(operation_id="evaluation_runs_list")
    def get(self, request, collection_id):
        return self.list(request)

    @extend_schema(
        request=s.EvaluationRunInputSerializer,
        responses={201: s.EvaluationRunOutputSerializer},
        description=(
            "Start an evaluation: every approved question searched in each mode at each "
            "top_k through the search service; nDCG@10, recall@10 and MRR per setting. "
            "409 while another run of the collection is unfinished or without questions."
        ),
    )
    def post(self, request, collection_id):
        collection = _collection(collection_id)
        data = s.EvaluationRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.run_start(
            collection=collection,
            user=request.user,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        return Response(s.EvaluationRunOutputSerializer(run).data, status=201)


class RunDetailView(OrganizationAPIView):
    api_scope = "knowledge"

    @extend_schema(responses=s.EvaluationRunDetailSerializer)
    def get(self, request, collection_id, run_id):
        run = selectors.run_get(collection=_collection(collection_id), run_id=run_id)
        return Response(s.EvaluationRunDetailSerializer(run).data)
