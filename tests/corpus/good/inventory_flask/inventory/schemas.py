from marshmallow import Schema, fields, validate


class ItemCreateSchema(Schema):
    sku = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9-]{3,64}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    stock = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))
    warehouse_id = fields.Integer(required=True, validate=validate.Range(min=1))


class StockAdjustmentSchema(Schema):
    delta = fields.Integer(required=True, validate=validate.Range(min=-10_000, max=10_000))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PageSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ExportSchema(Schema):
    warehouse_id = fields.Integer(required=True, validate=validate.Range(min=1))
