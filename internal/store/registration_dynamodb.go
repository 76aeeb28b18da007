package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/registration"
)

// Registration items of the DynamoDB adapter (see DynamoDB for the others):
//
//	token        REGTOKEN#<sha256 hex>  REGTOKEN             kind=regtoken: tokenId, tenantId, createdAt, validUntil,
//	                                                         revoked, revokedAt, via, inviteHash (of the invite that
//	                                                         minted it on the form). Found by the digest of a presented token.
//	token ref    TENANT#<tenantId>      REGTOKEN#<tokenId>   kind=regtokenref: the same fields and the digest, so a
//	                                                         tenant's tokens list with one query of its partition.
//	answer       CFNREQ#<key>           CFNREQ               kind=cfnanswer: the answer given to one custom-resource
//	                                                         request; TTL expiresAt = answeredAt + AnswerRetention.
//
// A token and its ref are written and revoked together in one transaction.
// Neither carries a TTL: a token is kept for good, expired or revoked, so
// that a stack deleted long after its token expired still proves, with
// it, that it is the tenant's (onboarding.Registrations.AuthenticateDeletion),
// and a revoked one is still known to be revoked.
const (
	skRegToken      = "REGTOKEN"
	regTokenPrefix  = "REGTOKEN#"
	skAnswer        = "CFNREQ"
	kindRegToken    = "regtoken"
	kindRegTokenRef = "regtokenref"
	kindAnswer      = "cfnanswer"
)

func regTokenPK(hash string) string { return regTokenPrefix + hash }
func regTokenSK(id string) string   { return regTokenPrefix + id }
func answerPK(key string) string    { return "CFNREQ#" + key }

type regTokenItem struct {
	itemKey
	TokenID  string `dynamodbav:"tokenId"`
	TenantID string `dynamodbav:"tenantId"`
	secretAttrs
	Revoked    bool      `dynamodbav:"revoked"`
	RevokedAt  time.Time `dynamodbav:"revokedAt,omitempty"`
	InviteHash string    `dynamodbav:"inviteHash,omitempty"`
	Via        string    `dynamodbav:"via"`
}

func newRegTokenItems(t registration.Token) (lookup, ref regTokenItem) {
	lookup = regTokenItem{itemKey: itemKey{regTokenPK(t.Hash), skRegToken, kindRegToken},
		TokenID: t.ID, TenantID: t.TenantID, secretAttrs: newSecretAttrs(t.Hash, t.CreatedAt, t.ExpiresAt, time.Time{}), // kept for good (see above)
		Revoked: t.Revoked, RevokedAt: utc(t.RevokedAt), InviteHash: t.InviteHash, Via: t.Via}
	ref = lookup
	ref.itemKey = itemKey{tenantPK(t.TenantID), regTokenSK(t.ID), kindRegTokenRef}
	return lookup, ref
}

func (it regTokenItem) token() registration.Token {
	return registration.Token{ID: it.TokenID, TenantID: it.TenantID, Hash: it.Hash, CreatedAt: it.CreatedAt,
		ExpiresAt: it.ValidUntil, Revoked: it.Revoked, RevokedAt: it.RevokedAt, InviteHash: it.InviteHash, Via: it.Via}
}

type answerItem struct {
	itemKey
	Status             string            `dynamodbav:"status"`
	Reason             string            `dynamodbav:"reason,omitempty"`
	PhysicalResourceID string            `dynamodbav:"physicalResourceId"`
	Data               map[string]string `dynamodbav:"data,omitempty"`
	AnsweredAt         time.Time         `dynamodbav:"answeredAt"`
	TTL                int64             `dynamodbav:"expiresAt"`
}

// newAnswerItem records a, the answer to the request keyed k.
func newAnswerItem(k string, a registration.Answer) answerItem {
	return answerItem{itemKey: itemKey{answerPK(k), skAnswer, kindAnswer}, Status: a.Status, Reason: a.Reason,
		PhysicalResourceID: a.PhysicalResourceID, Data: a.Data, AnsweredAt: a.AnsweredAt,
		TTL: a.AnsweredAt.Add(registration.AnswerRetention).Unix()}
}

func (it answerItem) answer() registration.Answer {
	return registration.Answer{Status: it.Status, Reason: it.Reason, PhysicalResourceID: it.PhysicalResourceID, Data: it.Data, AnsweredAt: it.AnsweredAt}
}

// PutRegistrationToken implements Registrations.
func (d *DynamoDB) PutRegistrationToken(ctx context.Context, t registration.Token) error {
	lookup, ref := newRegTokenItems(t)
	taken, err := d.putNew(ctx, lookup, ref)
	if taken >= 0 {
		return fmt.Errorf("put registration token %s: %w", t.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("put registration token %s: %w", t.ID, err)
	}
	return nil
}

// GetRegistrationToken implements Registrations.
func (d *DynamoDB) GetRegistrationToken(ctx context.Context, hash string) (registration.Token, error) {
	var it regTokenItem
	if err := d.get(ctx, key(regTokenPK(hash), skRegToken), &it); err != nil {
		return registration.Token{}, fmt.Errorf("get registration token: %w", err)
	}
	return it.token(), nil
}

// ListRegistrationTokens implements Registrations: one query of the
// tenant's partition (a tenant holds few tokens; every page is read).
func (d *DynamoDB) ListRegistrationTokens(ctx context.Context, tenantID string) ([]registration.Token, error) {
	in := &dynamodb.QueryInput{
		TableName:              &d.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": s(tenantPK(tenantID)), ":sk": s(regTokenPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	var out []registration.Token
	for {
		page, err := d.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list registration tokens of %s: %w", tenantID, err)
		}
		for _, item := range page.Items {
			var it regTokenItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("list registration tokens of %s: decode: %w", tenantID, err)
			}
			out = append(out, it.token())
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sortTokens(out)
	return out, nil
}

// RevokeRegistrationToken implements Registrations: it reads the tenant's
// ref (for the digest), then marks both items revoked in one transaction,
// each conditioned on existing and not being revoked yet.
func (d *DynamoDB) RevokeRegistrationToken(ctx context.Context, tenantID, tokenID string, at time.Time) (registration.Token, error) {
	var ref regTokenItem
	if err := d.get(ctx, key(tenantPK(tenantID), regTokenSK(tokenID)), &ref); err != nil {
		return registration.Token{}, fmt.Errorf("revoke registration token %s of %s: %w", tokenID, tenantID, err)
	}
	t := ref.token()
	if t.Revoked {
		return t, nil
	}
	t.Revoked, t.RevokedAt = true, at.UTC()
	upd := func(k map[string]ddbtypes.AttributeValue) *ddbtypes.Update {
		return &ddbtypes.Update{
			TableName: &d.table, Key: k,
			UpdateExpression:          aws.String("SET revoked = :t, revokedAt = :at"),
			ConditionExpression:       aws.String("attribute_exists(PK) AND revoked = :f"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberBOOL{Value: true}, ":f": &ddbtypes.AttributeValueMemberBOOL{Value: false}, ":at": s(t.RevokedAt.Format(time.RFC3339Nano))},
		}
	}
	_, err := d.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Update: upd(key(regTokenPK(ref.Hash), skRegToken))},
		{Update: upd(key(tenantPK(tenantID), regTokenSK(tokenID)))},
	}})
	if codes, _ := reasons(err); failedAt(codes, 0) || failedAt(codes, 1) {
		// Revoked concurrently (or the pair was edited by hand): report what is stored now.
		var now regTokenItem
		if gerr := d.get(ctx, key(tenantPK(tenantID), regTokenSK(tokenID)), &now); gerr == nil && now.Revoked {
			return now.token(), nil
		}
		return registration.Token{}, fmt.Errorf("revoke registration token %s of %s: %w", tokenID, tenantID, ErrConflict)
	}
	if err != nil {
		return registration.Token{}, fmt.Errorf("revoke registration token %s of %s: %w", tokenID, tenantID, err)
	}
	return t, nil
}

// GetRegistrationAnswer implements Registrations.
func (d *DynamoDB) GetRegistrationAnswer(ctx context.Context, key string) (registration.Answer, error) {
	var it answerItem
	if err := d.get(ctx, answerKey(key), &it); err != nil {
		return registration.Answer{}, fmt.Errorf("get registration answer: %w", err)
	}
	return it.answer(), nil
}

func answerKey(k string) map[string]ddbtypes.AttributeValue { return key(answerPK(k), skAnswer) }

// PutRegistrationAnswer implements Registrations with one conditional put;
// when another delivery recorded first, its answer is read and returned.
func (d *DynamoDB) PutRegistrationAnswer(ctx context.Context, k string, a registration.Answer) (registration.Answer, error) {
	a.AnsweredAt = a.AnsweredAt.UTC()
	item, err := marshal(newAnswerItem(k, a))
	if err != nil {
		return registration.Answer{}, fmt.Errorf("put registration answer: %w", err)
	}
	_, err = d.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &d.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return d.GetRegistrationAnswer(ctx, k)
	}
	if err != nil {
		return registration.Answer{}, fmt.Errorf("put registration answer: %w", err)
	}
	return a, nil
}
