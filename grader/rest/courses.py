"""REST endpoints for courses: the caller's courses, and one of them."""

from __future__ import annotations

from flask import url_for

from grader.access.kit import require_enrollment
from grader.accounts.models import Role, User
from grader.courses.models import Course
from grader.courses.queries import courses_of
from grader.rest.registry import Api
from grader.rest.schemas import Model, Page, PageQuery, paging

api = Api("courses_api", "Courses")


class CourseOut(Model):
    id: int
    code: str
    title: str
    role: Role
    url: str
    assignments_url: str


class CoursePage(Page):
    items: list[CourseOut]


def describe(course: Course, role: Role) -> CourseOut:
    return CourseOut(
        id=course.id,
        code=course.code,
        title=course.title,
        role=role,
        url=url_for("courses_api.get_course", course_id=course.id),
        assignments_url=url_for("assignments_api.list_assignments", course_id=course.id),
    )


@api.operation(
    "GET", "/courses", summary="List your courses", query=PageQuery, response=CoursePage, headers=("Link",)
)
def list_courses(user: User, query: PageQuery) -> CoursePage:
    """The courses you are enrolled in, with your role in each (an admin sees every course)."""
    rows, total = courses_of(user, query.offset, query.per_page)
    return CoursePage(items=[describe(course, role) for course, role in rows], **paging(query, total))


@api.operation("GET", "/courses/<int:course_id>", summary="Get a course", response=CourseOut)
def get_course(user: User, course_id: int) -> CourseOut:
    """One of your courses."""
    course, role = require_enrollment(user, course_id)
    return describe(course, role)
